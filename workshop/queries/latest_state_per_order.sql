-- The latest state of every order, and whether it was cancelled (latest event is a REMOVE).
-- row_number() numbers each order's events from the newest; the newest is its state now.
-- Two events in the same second are ordered by kind: INSERT, then MODIFY, then REMOVE.
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
ORDER BY placed_at, orderid
