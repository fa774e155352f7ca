-- Revenue per minute (UTC), by the time each order was placed: the demo's line chart.
-- Each order counts once, at the price and quantity it was placed with (its INSERT event);
-- SELECT DISTINCT drops the duplicates at-least-once delivery may bring.
WITH placed AS (
    SELECT DISTINCT orderid, placed_at, quantity, price
    FROM orders
    WHERE event_type = 'INSERT'
)
SELECT date_trunc('minute', from_iso8601_timestamp(placed_at)) AS minute,
       ROUND(SUM(quantity * price), 2) AS revenue
FROM placed
GROUP BY date_trunc('minute', from_iso8601_timestamp(placed_at))
ORDER BY minute
