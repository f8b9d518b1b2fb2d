package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	"github.com/shopmesh/shopmesh/pkg/platform/settings"
)

// Wire is a service's wiring over its database, which is open and migrated.
type Wire[C any] func(ctx context.Context, p *bootstrap.Process, c C, db *pgxpool.Pool) (bootstrap.Parts, error)

// Service gives s a database: DATABASE_URL is required with s's other
// settings; before wire runs, the database is opened and migrated with
// migrations; a lost connection to it is UNAVAILABLE to callers, who may
// retry, not INTERNAL (Classify, on every server the process makes); the
// service is ready only while the database answers, and the pool closes
// after the service's own closers. It returns s with its Wire set.
func Service[C any](s bootstrap.Service[C], migrations fs.FS, wire Wire[C]) bootstrap.Service[C] {
	own := s.Config
	s.Config = func(r *settings.Reader) C {
		r.Required("DATABASE_URL", fmt.Sprintf("postgres://%s:secret@postgres:5432/%s", s.Name, s.Name))
		var c C
		if own != nil {
			c = own(r)
		}
		return c
	}
	s.Wire = func(ctx context.Context, p *bootstrap.Process, c C) (bootstrap.Parts, error) {
		pool, err := Open(ctx, Config{DSN: p.Config.DatabaseURL}, migrations, p.Logger)
		if err != nil {
			return bootstrap.Parts{}, fmt.Errorf("%s database: %w", s.Name, err)
		}
		p.AddServerOptions(grpcx.WithErrorClassifier(Classify))
		parts, err := wire(ctx, p, c, pool)
		if err != nil {
			pool.Close()
			return bootstrap.Parts{}, err
		}
		dbReady, also := Ready(pool), parts.Ready
		parts.Ready = dbReady
		if also != nil {
			parts.Ready = func(ctx context.Context) error {
				if err := dbReady(ctx); err != nil {
					return err
				}
				return also(ctx)
			}
		}
		// Clip: appending must not write into the service's array.
		parts.Closers = append(slices.Clip(parts.Closers),
			lifecycle.Closer{Name: "database pool", Close: func(context.Context) error { pool.Close(); return nil }})
		return parts, nil
	}
	return s
}
