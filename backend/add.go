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
	// Duplicate is set when a job with the caller-chosen ID existed
	// already, or a job held the deduplication key: no job was made, and
	// ID names the existing job.
	Duplicate bool
	// Dedup says what the add did instead of making a job, when a job held
	// its deduplication key; Duplicate is set then too.
	Dedup    DedupOutcome
	Children []Added
}
