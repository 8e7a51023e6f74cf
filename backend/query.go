package backend

// JobsRequest pages through the jobs of one state. Jobs come in the state's
// natural order: waiting in the order they will be leased, delayed by due
// time, active and waiting-children by Seq, completed and failed most
// recently finished first.
type JobsRequest struct {
	State  JobState
	Offset int
	// Limit is the page size; 0 means 100.
	Limit int
}

// JobsResult is one page.
type JobsResult struct {
	Jobs []*Job
}

// Counts is the number of jobs in each state of a queue.
type Counts struct {
	Waiting         int
	Delayed         int
	Active          int
	WaitingChildren int
	Completed       int
	Failed          int
	// Paused tells whether the queue is paused.
	Paused bool
}

// Of returns the count for state s.
func (c Counts) Of(s JobState) int {
	switch s {
	case StateWaiting:
		return c.Waiting
	case StateDelayed:
		return c.Delayed
	case StateActive:
		return c.Active
	case StateWaitingChildren:
		return c.WaitingChildren
	case StateCompleted:
		return c.Completed
	case StateFailed:
		return c.Failed
	}
	return 0
}

// Total returns the number of jobs in all states.
func (c Counts) Total() int {
	return c.Waiting + c.Delayed + c.Active + c.WaitingChildren + c.Completed + c.Failed
}
