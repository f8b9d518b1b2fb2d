module github.com/shopmesh/shopmesh/inventory

go 1.26.0
