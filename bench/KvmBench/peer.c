/* The C peer of bench/KvmBench: the smallest KVM loop that serves a port write. The guest executes
 * "out 0x10, al; jmp back" forever, in real mode or (with "ring3") in 64-bit ring 3 with IOPL 3; the
 * loop re-enters KVM_RUN after each exit and counts the writes. Prints "ns-per-exit <value>".
 * Build: gcc -O2 -o peer peer.c   Run: ./peer EXITS [ring3] */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

int main(int argc, char **argv) {
    long exits = argc > 1 ? atol(argv[1]) : 100000;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) die("KVM_CREATE_VM");
    size_t size = 0x200000;
    uint8_t *mem = mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint64_t *pml4 = (uint64_t *)(mem + 0x100000), *pdpt = (uint64_t *)(mem + 0x101000), *pd = (uint64_t *)(mem + 0x102000);
    pml4[0] = 0x101000 | 7; pdpt[0] = 0x102000 | 7; pd[0] = 0x87;
    static const uint8_t code[] = { 0xE6, 0x10, 0xEB, 0xFC };   /* out 0x10, al; jmp $-2 */
    memcpy(mem + 0x8000, code, sizeof code);
    struct kvm_userspace_memory_region r = { .slot = 0, .guest_phys_addr = 0, .memory_size = size, .userspace_addr = (uint64_t)mem };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r)) die("KVM_SET_USER_MEMORY_REGION");
    int cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (cpu < 0) die("KVM_CREATE_VCPU");
    int runsize = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(0, runsize, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
    struct kvm_sregs s;
    if (ioctl(cpu, KVM_GET_SREGS, &s)) die("KVM_GET_SREGS");
    struct kvm_segment cs = { .base = 0, .limit = 0xffffffff, .selector = 0x33, .type = 11, .present = 1, .dpl = 3, .s = 1, .l = 1, .g = 1 };
    struct kvm_segment ds = { .base = 0, .limit = 0xffffffff, .selector = 0x2b, .type = 3, .present = 1, .dpl = 3, .db = 1, .s = 1, .g = 1 };
    int ring3 = argc > 2 && strcmp(argv[2], "ring3") == 0;
    if (ring3) {
        s.cs = cs; s.ds = s.es = s.ss = ds;
        s.cr0 = 0x80050033; s.cr3 = 0x100000; s.cr4 = 0x620; s.efer = 0xD01;
    } else {
        s.cs.base = 0; s.cs.selector = 0;   /* real mode, CS:IP = 0000:8000 */
    }
    if (ioctl(cpu, KVM_SET_SREGS, &s)) die("KVM_SET_SREGS");
    struct kvm_regs regs = { .rip = 0x8000, .rsp = ring3 ? 0x60000 : 0x7000, .rflags = ring3 ? 0x3002 : 2 };
    if (ioctl(cpu, KVM_SET_REGS, &regs)) die("KVM_SET_REGS");
    long seen = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (seen < exits) {
        if (ioctl(cpu, KVM_RUN, 0) < 0) die("KVM_RUN");
        if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x10) {
            fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
            return 1;
        }
        seen++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("ns-per-exit %.1f\n", ns / exits);
    return 0;
}
