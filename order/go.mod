module github.com/shopmesh/shopmesh/order

go 1.26.0
