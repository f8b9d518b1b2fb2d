module github.com/shopmesh/shopmesh/payment

go 1.26.0
