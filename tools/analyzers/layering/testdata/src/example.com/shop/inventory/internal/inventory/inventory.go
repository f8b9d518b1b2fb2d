// Package inventory imports no gRPC: no finding.
package inventory

import "errors"

var ErrShort = errors.New("short")
