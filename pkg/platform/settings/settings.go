// Package settings reads a program's configuration from its environment,
// the one way every shopmesh program does it (the services, the gateway and
// paysim): each setting is read with its default, every problem is
// collected, and the program reports all of them at once, before it opens
// anything.
//
//	s := settings.New(os.Getenv)
//	ttl := s.Duration("RESERVATION_TTL", 15*time.Minute)
//	s.Check(ttl > 0, "RESERVATION_TTL %v: must be positive", ttl)
//	if err := s.Err(); err != nil { ... }
package settings

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reader reads settings from one environment and collects the problems.
type Reader struct {
	getenv func(string) string
	errs   []error
}

// New returns a Reader over getenv (os.Getenv, or a map in tests).
func New(getenv func(string) string) *Reader { return &Reader{getenv: getenv} }

// Read runs read over a new Reader of getenv and returns what it read, or
// every problem found.
func Read[C any](getenv func(string) string, read func(*Reader) C) (C, error) {
	r := New(getenv)
	c := read(r)
	if err := r.Err(); err != nil {
		var zero C
		return zero, err
	}
	return c, nil
}

// Err returns every problem found so far, joined, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Check records a problem unless ok: for rules over values already read,
// such as one budget fitting inside another.
func (r *Reader) Check(ok bool, format string, args ...any) {
	if !ok {
		r.errs = append(r.errs, fmt.Errorf(format, args...))
	}
}

// value is the variable's value with surrounding blanks removed.
func (r *Reader) value(name string) string { return strings.TrimSpace(r.getenv(name)) }

// String returns the variable, or def when it is empty.
func (r *Reader) String(name, def string) string {
	if v := r.value(name); v != "" {
		return v
	}
	return def
}

// Required returns the variable; an empty one is a problem whose message
// shows example.
func (r *Reader) Required(name, example string) string {
	v := r.value(name)
	r.Check(v != "", "%s is required (e.g. %s)", name, example)
	return v
}

// Duration returns the variable as a time.Duration ("1.5s"), or def when
// it is empty.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	v := r.value(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	r.Check(err == nil, "%s=%q: want a duration such as 2s or 150ms", name, v)
	return d
}

// Int returns the variable as an int, or def when it is empty.
func (r *Reader) Int(name string, def int) int {
	v := r.value(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	r.Check(err == nil, "%s=%q: want an integer", name, v)
	return n
}

// Float returns the variable as a finite number, or def when it is empty.
func (r *Reader) Float(name string, def float64) float64 {
	v := r.value(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	r.Check(err == nil && !math.IsInf(f, 0) && !math.IsNaN(f), "%s=%q: want a number", name, v)
	return f
}

// Bool returns the variable as a bool ("true", "false", "1", "0"), or def
// when it is empty.
func (r *Reader) Bool(name string, def bool) bool {
	v := r.value(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	r.Check(err == nil, "%s=%q: want true or false", name, v)
	return b
}

// OneOf returns the variable, which must be one of allowed, or def when it
// is empty.
func (r *Reader) OneOf(name, def string, allowed ...string) string {
	v := r.String(name, def)
	r.Check(slices.Contains(allowed, v), "%s=%q: want one of %s", name, v, strings.Join(allowed, ", "))
	return v
}

// Pairs returns the variable "a=x,b=y" as a map; empty gives an empty map.
func (r *Reader) Pairs(name string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(r.value(name), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			r.Check(false, "%s: %q: want name=value", name, part)
			continue
		}
		out[k] = v
	}
	return out
}

// Retired refuses a setting that is no longer read, saying why: a silently
// ignored setting is one somebody still relies on.
func (r *Reader) Retired(name, why string) {
	r.Check(r.value(name) == "", "%s is no longer read: %s; unset it", name, why)
}
