-- The 95th percentile of the price of live orders, per product: 95 % of orders cost less.
-- approx_percentile is approximate by design on both engines (a sketch, not a sort), so the
-- local result can differ from Athena's in the last cents on large tables.
WITH latest AS (
    SELECT *,
           row_number() OVER (
               PARTITION BY orderid
               ORDER BY from_iso8601_timestamp(event_time) DESC,
                        CASE event_type WHEN 'REMOVE' THEN 3 WHEN 'MODIFY' THEN 2 ELSE 1 END DESC
           ) AS rn
    FROM orders
)
SELECT product_name,
       COUNT(*) AS orders,
       ROUND(approx_percentile(price, 0.95), 2) AS p95_price
FROM latest
WHERE rn = 1 AND event_type <> 'REMOVE'
GROUP BY product_name
ORDER BY product_name
