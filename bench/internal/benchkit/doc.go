// Package benchkit is what the end-to-end bench programs (bench/agentbench,
// bench/transferbench) share: their measured children and how CPU and memory
// are read from them, the devstack child (kfake and etcd), the temporary
// workspace with the freshly built commands, the deterministic nginx line
// generator, and the flag, progress and report plumbing.
//
// Each program keeps only what it measures and how it reports it.
package benchkit
