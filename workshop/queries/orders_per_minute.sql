-- New orders per minute (UTC), by the time each order was placed.
-- An INSERT event is an order being placed, so only INSERTs count (a later MODIFY or REMOVE
-- is not a new order; a cancelled order was still placed). COUNT(DISTINCT orderid) ignores
-- the duplicates Kinesis and Firehose may deliver: they promise at least once, not once.
SELECT date_trunc('minute', from_iso8601_timestamp(placed_at)) AS order_minute,
       COUNT(DISTINCT orderid) AS orders
FROM orders
WHERE event_type = 'INSERT'
GROUP BY date_trunc('minute', from_iso8601_timestamp(placed_at))
ORDER BY order_minute
