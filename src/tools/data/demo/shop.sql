-- The demo dataset: a small online shop. Loaded into an in-memory PGlite when the Node server
-- starts without datasource.dsn; tests load the same file into real Postgres databases.
-- Values are computed, not random, so that every run holds the same rows.

create table customers (
  id bigint generated always as identity primary key,
  email text not null unique,
  full_name text not null,
  country char(2) not null,
  created_at timestamptz not null,
  marketing_opt_in boolean not null default false
);
comment on table customers is 'People who created an account in the shop; one row per account.';
comment on column customers.email is 'Login and contact address; unique, stored lower-case.';
comment on column customers.country is 'ISO 3166-1 alpha-2 code of the billing country.';
comment on column customers.marketing_opt_in is 'True when the customer agreed to receive marketing email.';

create table products (
  id bigint generated always as identity primary key,
  sku text not null unique,
  name text not null,
  category text not null,
  price_cents integer not null check (price_cents >= 0),
  active boolean not null default true
);
comment on table products is 'Items the shop sells, current price included.';
comment on column products.sku is 'Stock keeping unit: the warehouse''s identifier for the item.';
comment on column products.price_cents is 'Current list price in euro cents, VAT included.';
comment on column products.active is 'False for items no longer sold; kept for order history.';

create table orders (
  id bigint generated always as identity primary key,
  customer_id bigint not null references customers (id),
  status text not null check (status in ('pending', 'paid', 'shipped', 'cancelled')),
  placed_at timestamptz not null,
  total_cents integer not null
);
comment on table orders is 'One row per checkout. Revenue counts orders with status paid or shipped.';
comment on column orders.status is 'pending (awaiting payment), paid, shipped, or cancelled.';
comment on column orders.total_cents is 'Sum of the order''s items in euro cents, VAT included.';
create index orders_customer_id_idx on orders (customer_id);

create table order_items (
  order_id bigint not null references orders (id),
  product_id bigint not null references products (id),
  quantity integer not null check (quantity > 0),
  unit_price_cents integer not null,
  primary key (order_id, product_id)
);
comment on table order_items is 'The lines of an order: which product, how many, at what price.';
comment on column order_items.unit_price_cents is 'Price per unit when the order was placed, in euro cents (products.price_cents may have changed since).';

create table legacy_orders (
  id bigint primary key,
  customer_email text not null,
  amount numeric(10, 2) not null,
  ordered_on date not null
);
comment on table legacy_orders is 'Orders imported from the shop''s first system (before 2024).';

create view customer_revenue as
  select c.id as customer_id, c.email, count(o.id) as orders, coalesce(sum(o.total_cents), 0) as revenue_cents
  from customers c
  left join orders o on o.customer_id = c.id and o.status in ('paid', 'shipped')
  group by c.id, c.email;
comment on view customer_revenue is 'Revenue per customer: paid and shipped orders only.';

insert into customers (email, full_name, country, created_at, marketing_opt_in)
select
  format('customer%s@example.com', n),
  (array['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken'])[1 + n % 8] || ' ' ||
    (array['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Ritchie'])[1 + n % 9],
  (array['DE', 'FR', 'NL', 'IT', 'ES', 'PL'])[1 + n % 6],
  timestamptz '2024-01-01 09:00+00' + n * interval '3 days 5 hours',
  n % 3 = 0
from generate_series(1, 24) as n;

insert into products (sku, name, category, price_cents, active)
values
  ('MUG-001', 'Enamel mug', 'kitchen', 1450, true),
  ('MUG-002', 'Espresso cup set', 'kitchen', 2900, true),
  ('TEA-010', 'Loose leaf tea, 100 g', 'pantry', 890, true),
  ('COF-020', 'Whole bean coffee, 250 g', 'pantry', 1290, true),
  ('NTB-100', 'Dotted notebook A5', 'stationery', 1600, true),
  ('PEN-110', 'Fountain pen', 'stationery', 3400, true),
  ('INK-111', 'Ink bottle, blue', 'stationery', 750, true),
  ('BAG-200', 'Canvas tote bag', 'accessories', 1900, true),
  ('UMB-210', 'Compact umbrella', 'accessories', 2450, false),
  ('LMP-300', 'Desk lamp', 'home', 5900, true),
  ('PLT-310', 'Ceramic planter', 'home', 2200, true),
  ('BLK-320', 'Wool blanket', 'home', 7900, true);

insert into orders (customer_id, status, placed_at, total_cents)
select
  1 + (n * 7) % 24,
  (array['paid', 'shipped', 'shipped', 'pending', 'cancelled', 'shipped'])[1 + n % 6],
  timestamptz '2024-03-01 10:00+00' + n * interval '2 days 7 hours',
  0
from generate_series(1, 80) as n;

insert into order_items (order_id, product_id, quantity, unit_price_cents)
select o.id, p.id, 1 + (o.id + p.id) % 3, p.price_cents
from orders o
join products p on (o.id * 5 + p.id * 3) % 7 = 0;

update orders o
set total_cents = (select coalesce(sum(quantity * unit_price_cents), 0) from order_items i where i.order_id = o.id);

insert into legacy_orders (id, customer_email, amount, ordered_on)
select n, format('customer%s@example.com', 1 + n % 24), round((10 + n * 3.7)::numeric, 2), date '2023-01-01' + n * 9
from generate_series(1, 30) as n;

analyze;
