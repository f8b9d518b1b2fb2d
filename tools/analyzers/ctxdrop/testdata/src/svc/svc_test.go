package svc

import (
	"context"
	"log/slog"
	"time"
)

func helper(ctx context.Context) {
	slog.Info("tests may")
	time.Sleep(time.Millisecond)
}
