// Package benchkit is what the end-to-end bench programs (bench/agentbench,
// bench/transferbench) share beyond internal/proc (the child processes and
// their CPU and memory): the devstack on free ports, the temporary
// workspace with the freshly built commands, the deterministic nginx line
// generator, and the flag, progress and report plumbing.
//
// Each program keeps only what it measures and how it reports it.
package benchkit
