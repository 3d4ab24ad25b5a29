/* noamx: run a command with AMX refused.
 *
 *   noamx COMMAND [ARGS...]
 *
 * Linux grants AMX tile state to a process only on request:
 * arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA). Libraries that use AMX
 * (oneDNN, XNNPACK, ORT's MLAS) ask for it and fall back to AVX-512/AVX2 kernels
 * when the request fails. This launcher installs a seccomp-BPF filter that makes
 * exactly that request fail with EPERM (every other syscall is allowed), then execs
 * COMMAND; the filter is inherited by every child and thread and cannot be removed.
 * The benchmark uses it to time engines as they would run on a CPU without AMX
 * (phones have none). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef ARCH_REQ_XCOMP_PERM
#define ARCH_REQ_XCOMP_PERM 0x1023
#endif
#ifndef ARCH_REQ_XCOMP_GUEST_PERM
#define ARCH_REQ_XCOMP_GUEST_PERM 0x1025
#endif

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s COMMAND [ARGS...]\n", argv[0]);
        return 2;
    }
    struct sock_filter prog[] = {
        /* Only x86-64 syscalls are checked; anything else (x32/i386 ABI) is refused. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_arch_prctl, 0, 4),
        /* arch_prctl's first argument (low 32 bits): the request code. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_REQ_XCOMP_PERM, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_REQ_XCOMP_GUEST_PERM, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fprog = {.len = sizeof prog / sizeof prog[0], .filter = prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("noamx: prctl(PR_SET_NO_NEW_PRIVS)");
        return 126;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) {
        perror("noamx: prctl(PR_SET_SECCOMP)");
        return 126;
    }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "noamx: exec %s: %s\n", argv[1], strerror(errno));
    return 127;
}
