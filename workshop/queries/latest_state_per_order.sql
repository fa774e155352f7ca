-- The latest state of every order, and whether it was cancelled (latest event is a REMOVE).
-- row_number() numbers each order's events from the newest; the newest is its state now.
-- Two events in the same second are ordered by kind: INSERT, then MODIFY, then REMOVE.
-- Orders are listed by when they were placed, as a time: ISO-8601 text sorts wrongly when the
-- fraction of a second is written with other digits ('12:00:05Z' after '12:00:05.5Z').
SELECT orderid,
       product_name,
       quantity,
       price,
       placed_at,
       event_type AS latest_event,
       event_time AS latest_event_time,
       event_type = 'REMOVE' AS removed
FROM (
    SELECT *,
           row_number() OVER (
               PARTITION BY orderid
               ORDER BY from_iso8601_timestamp(event_time) DESC,
                        CASE event_type WHEN 'REMOVE' THEN 3 WHEN 'MODIFY' THEN 2 ELSE 1 END DESC
           ) AS rn
    FROM orders
) AS events
WHERE rn = 1
ORDER BY from_iso8601_timestamp(placed_at), orderid
