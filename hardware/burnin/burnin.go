// Package burnin implements IPA's burn-in steps in Go, without stress-ng or
// fio: burnin_cpu, burnin_memory, burnin_disk and burnin_network. Each one
// checks what it exercises (known answers for the CPU, patterns read back
// from memory, disks and the network) and fails with ErrMismatch on a
// fault. The knobs are IPA's, read from the node's driver_info.
//
// burnin_gpu is not offered: the goipa ramdisk has no GPU compute stack
// (IPA runs gpu-burn, which needs CUDA).
package burnin
