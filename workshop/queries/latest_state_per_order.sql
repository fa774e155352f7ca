-- The latest state of every order, and whether it was cancelled (latest event is a REMOVE).
-- row_number() numbers each order's events from the newest; the newest is its state now.
-- Two events in the same second are ordered by kind: INSERT, then MODIFY, then REMOVE.
-- No ORDER BY: the answer has a row for every order ever placed, and Athena sorts an ORDER BY
-- without LIMIT on a single worker ("Use LIMIT with the ORDER BY clause", Athena's tuning
-- guide). Sort the rows you show (in pandas), or add ORDER BY ... LIMIT n for a top n.
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
