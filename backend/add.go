package backend

// AddRequest adds jobs and flow trees in one atomic step: all or nothing.
type AddRequest struct {
	Jobs []NewJob
}

// AddResult mirrors AddRequest.Jobs, in input order.
type AddResult struct {
	Jobs []Added
}

// Added reports one added job (and its flow children).
type Added struct {
	Queue string
	ID    string
	// Duplicate is set when a job with the caller-chosen ID existed already:
	// nothing was written for it, and ID names the existing job.
	Duplicate bool
	Children  []Added
}
