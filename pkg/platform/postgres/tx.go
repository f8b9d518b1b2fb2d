package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// rollbackBudget bounds the rollback of a transaction whose own context
// has ended.
const rollbackBudget = time.Second

// Beginner starts transactions: a pgxpool.Pool, a pgx.Conn.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// InTx runs fn in a transaction and commits it, as pgx.BeginFunc does, but
// ends a transaction whose context has ended (its budget ran out while fn
// ran) with a rollback on a context of its own. pgx rolls back, or commits,
// on the ended context, which fails before anything is sent, and then
// closes the connection: every budget that ran out inside a transaction
// would cost a new connection, at the moment the database is slowest
// (Config.CancelGrace says why that matters). A transaction whose context
// ended is never committed: its caller has given up on it.
func InTx(ctx context.Context, db Beginner, fn func(pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		rollback(ctx, tx)
		return err
	}
	if err := ctx.Err(); err != nil {
		rollback(ctx, tx)
		return err
	}
	return tx.Commit(ctx)
}

// rollback ends tx within rollbackBudget, whether or not ctx has ended. Its
// error is not the caller's: the transaction already failed, and a
// connection the rollback could not clean pgx closes.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackBudget)
	defer cancel()
	_ = tx.Rollback(ctx)
}
