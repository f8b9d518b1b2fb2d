// Package postgres opens a service's database: a pgx connection pool, the
// service's embedded migrations applied at start-up under a Postgres
// advisory lock (so replicas starting together migrate once, in turn), a
// bounded wait for a database that is still starting, and connections that
// survive a budget running out: opened before the service is ready, a
// statement past its budget given a grace before its connection is closed,
// a transaction whose context ended rolled back on a context of its own
// (InTx). Service gives a bootstrap.Service its database: opened and
// migrated before the service's wiring, its readiness, its transient errors
// classified, closed last.
//
// Each service owns its database; no service reads another's.
package postgres
