module github.com/shopmesh/shopmesh/e2e

go 1.26.0
