package main

import "errors"

func newDrover(addr string) (system, error) {
	return nil, errors.New("drover's Redis store is not built yet")
}
