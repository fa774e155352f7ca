-- Sales per minute (UTC), by the time each order was placed: orders and revenue.
-- The input of the anomaly alerts (workshop.anomaly): minutes without a sale are absent here
-- and filled with zeros there. Each order counts once, at the quantity and price it was placed
-- with (its INSERT event); SELECT DISTINCT drops duplicates of at-least-once delivery.
WITH placed AS (
    SELECT DISTINCT orderid, placed_at, quantity, price
    FROM orders
    WHERE event_type = 'INSERT'
)
SELECT date_trunc('minute', from_iso8601_timestamp(placed_at)) AS minute,
       COUNT(*) AS orders,
       ROUND(SUM(quantity * price), 2) AS revenue
FROM placed
GROUP BY date_trunc('minute', from_iso8601_timestamp(placed_at))
ORDER BY minute
