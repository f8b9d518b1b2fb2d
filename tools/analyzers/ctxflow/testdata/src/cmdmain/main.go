package main

import "context"

func main() {
	_ = context.Background()
}
