// Package e2e holds end-to-end tests that run drover across operating-system processes.
package e2e
