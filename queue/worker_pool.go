package queue

import (
	"runtime"
	"runtime/pprof"
	"sync"
)

// handlerPool keeps the goroutines that run a started worker's attempts.
// An attempt handed to a goroutine that ran one before starts on a stack
// that has already grown to the depth of the handler and its middleware;
// on a new goroutine the runtime grows and copies the stack again, and
// frees it once more when the goroutine exits: work that shows in the
// profiles of short jobs, traced ones most.
//
// Each attempt starts with the profiler labels of the context the worker
// was started with (pprof.WithLabels), on a goroutine new or reused, so
// that labels one handler set on its goroutine do not follow the next.
//
// An idle goroutine keeps the stack its attempts grew. At every GC the
// runtime halves the stack of a goroutine that uses under a quarter of
// it, so a goroutine waiting at the bottom of its stack would lose it
// and copy it back in pieces at its next attempt: on every GC cycle, for
// every goroutine of the pool. Traced attempts, whose stacks grow to 16 KiB,
// paid several microseconds a job for that. So the goroutine waits below
// a frame of heldStack bytes: a quarter of 16 KiB, which a stack that
// grew to 16 KiB keeps. The price is a stack of at least 8 KiB for each
// goroutine of the pool; a handler that needs more than about 12 KiB
// still loses half of its stack at a GC, as it did without the frame.
//
// The pool never holds more than about twice the worker's Concurrency:
// it starts a goroutine only when none is idle. Every goroutine in it is
// owned by the worker, which waits for them when it stops, except the
// goroutine of an attempt the worker gave up (abandoned or released): that
// one is disowned when the attempt is given up, and exits when its handler
// returns.
type handlerPool struct {
	next  chan *run      // unbuffered: only an idle goroutine receives
	quit  chan struct{}  // closed when the worker stops
	owned sync.WaitGroup // goroutines idle or running an attempt not given up
}

func newHandlerPool() *handlerPool {
	return &handlerPool{next: make(chan *run), quit: make(chan struct{})}
}

// run runs r, made with pooled set, on an idle goroutine, or a new one if
// none is idle.
func (p *handlerPool) run(r *run) {
	select {
	case p.next <- r:
	default:
		p.owned.Add(1)
		go p.loop(r)
	}
}

// heldStack is the size of the frame below which the pool's goroutines
// run and wait (see handlerPool).
const heldStack = 4 << 10

// loop runs attempts until the pool stops, or until an attempt it runs is
// given up (and its goroutine disowned).
func (p *handlerPool) loop(r *run) {
	var held [heldStack]byte
	p.serve(r)
	runtime.KeepAlive(&held)
}

// serve is loop, below the frame that holds the stack.
func (p *handlerPool) serve(r *run) {
	for {
		pprof.SetGoroutineLabels(r.ctx)
		if !r.execute() {
			return
		}
		select {
		case r = <-p.next:
		case <-p.quit:
			p.owned.Done()
			return
		}
	}
}

// disown lets the worker stop without waiting for the goroutine of r,
// which it has just given up.
func (p *handlerPool) disown(r *run) {
	if r.pooled {
		p.owned.Done()
	}
}

// stop ends the idle goroutines and waits until every owned one has
// exited. The worker calls it once every slot is free, after which no
// attempt is handed to the pool.
func (p *handlerPool) stop() {
	close(p.quit)
	p.owned.Wait()
}
