//go:build illumos || solaris

#include "textflag.h"

// sysvicall6 is package syscall's, which calls a libc function as a system call through
// the runtime (runtime/syscall_solaris.go, syscall_sysvicall6); golang.org/x/sys/unix
// reaches it the same way (asm_solaris_amd64.s).
TEXT ·sysvicall6(SB),NOSPLIT,$0-88
	JMP	syscall·sysvicall6(SB)
