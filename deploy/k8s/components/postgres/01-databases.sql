-- One database per service, each owned by its own role: a service can
-- neither read nor change another's data (DESIGN.md: "one database per
-- service, owned by it"). Passwords are for development only.
CREATE ROLE inventory LOGIN PASSWORD 'inventory-dev';
CREATE DATABASE inventory OWNER inventory;
CREATE ROLE "order" LOGIN PASSWORD 'order-dev';
CREATE DATABASE "order" OWNER "order";
CREATE ROLE payment LOGIN PASSWORD 'payment-dev';
CREATE DATABASE payment OWNER payment;
CREATE ROLE shipping LOGIN PASSWORD 'shipping-dev';
CREATE DATABASE shipping OWNER shipping;
