-- Units sold per product today (UTC): the seed's query, made right for a change log.
-- The orders table holds every change of an order: its INSERT, each MODIFY (a new quantity
-- or price) and a REMOVE (a cancelled order, carrying its last values). Summing every row
-- would count a modified order twice and a cancelled one at all, so each order is taken in
-- its latest state, orders whose latest event is a REMOVE are left out, and then the seed's
-- SUM(quantity) ... GROUP BY product_name runs as before.
-- "Today" is read from the partition column (datehour, the UTC hour Firehose received the
-- record), so Athena enumerates and scans only today's hours: at most 24 partitions, as it
-- projects no hour after NOW. placed_at then leaves out orders placed on an earlier day that
-- were only changed today.
WITH todays_events AS (
    SELECT *
    FROM orders
    WHERE datehour >= date_format(current_date, '%Y-%m-%d-00')
),
latest AS (
    SELECT *,
           row_number() OVER (
               PARTITION BY orderid
               -- a REMOVE in the same second as a MODIFY or INSERT is the later event
               ORDER BY from_iso8601_timestamp(event_time) DESC,
                        CASE event_type WHEN 'REMOVE' THEN 3 WHEN 'MODIFY' THEN 2 ELSE 1 END DESC
           ) AS rn
    FROM todays_events
)
SELECT product_name, SUM(quantity) AS total_units
FROM latest
WHERE rn = 1
  AND event_type <> 'REMOVE'
  AND CAST(from_iso8601_timestamp(placed_at) AS date) = current_date
GROUP BY product_name
ORDER BY total_units DESC, product_name
