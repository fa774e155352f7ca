-- Revenue per product: quantity x price of every live order, each in its latest state.
-- As in units_per_product_today, the change log is first reduced to one row per order, and
-- cancelled orders (latest event REMOVE) earn nothing.
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
       SUM(quantity) AS units,
       ROUND(SUM(quantity * price), 2) AS revenue
FROM latest
WHERE rn = 1 AND event_type <> 'REMOVE'
GROUP BY product_name
ORDER BY revenue DESC, product_name
