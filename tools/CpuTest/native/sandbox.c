// sbx-cputest diff: native side. Runs single x86 instructions on this machine's CPU, in 64-bit mode
// or in 32-bit compatibility mode (a far jump to the __USER32_CS code selector), and reports the
// outcome: registers, flags, x87/SSE state, the exception if one was raised, and every byte the
// instruction changed in the data pages. It is a separate process so that nothing a random
// instruction does can harm the tester.
//
// Protocol (stdin -> stdout, little-endian, structures below): a batch header followed by `count`
// case_in records; for each case a case_out record followed by `ndiff` diff entries. Runs until EOF.
//
// Each case: the data pages are filled from the case's seed (xorshift64*, same generator as the C#
// side) and patched; the instruction is copied to the middle of a code page otherwise filled with
// INT3; every register and RFLAGS are loaded and the instruction runs. It ends in a signal either way:
// SIGTRAP from the INT3 after it (or at a branch target), or the fault it raised. The handler (on an
// alternate stack, since the guest RSP is arbitrary) copies the interrupted context out of the
// ucontext and siglongjmps back. A periodic SIGALRM stops an instruction that does not finish.
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_BASE   0x10000000UL   // code page (execute-only view; written through an alias)
#define CODE_INSN   0x800          // where the instruction goes within it
#define DATA_BASE   0x20000000UL   // two read/write pages, then one read-only page, then a hole
#define DATA_RW     8192
#define DATA_RO     4096
#define MAGIC       0x42584253u    // "SBXB"
#define MAX_PATCH   8

#pragma pack(push, 1)
typedef struct { uint32_t magic, count, mode, reserved; uint64_t ro_seed; } batch_hdr;
typedef struct { uint16_t off; uint8_t len; uint8_t data[13]; } patch_t;
typedef struct {
    uint64_t gpr[16];      // RAX RCX RDX RBX RSP RBP RSI RDI R8..R15
    uint64_t rflags;
    uint64_t seed;
    uint8_t  code[16];
    uint8_t  code_len;
    uint8_t  npatch;
    uint8_t  pad[14];
    patch_t  patch[MAX_PATCH];
    uint8_t  fx[512];      // FXSAVE64 image
} case_in;
typedef struct {
    uint64_t gpr[16];
    uint64_t rip;          // next instruction (or branch target) on completion; the faulting instruction otherwise
    uint64_t rflags;
    uint32_t signo;        // 0 = completed
    uint32_t trapno;       // exception vector the kernel reported
    uint64_t err;          // error code
    uint64_t cr2;          // faulting linear address (#PF)
    uint32_t ndiff;
    uint32_t pad;
    uint8_t  fx[512];
} case_out;
typedef struct { uint16_t off; uint8_t now, was; } diff_t;
#pragma pack(pop)

_Static_assert(sizeof(case_in) == 816, "case_in layout");
_Static_assert(sizeof(case_out) == 688, "case_out layout");

// ---- state shared with the entry code and the signal handler ----
struct guest { uint64_t gpr[16]; uint64_t rflags; uint8_t pad[8]; uint8_t fx[512] __attribute__((aligned(16))); };
static struct guest g_in __attribute__((aligned(64)));
uint64_t g_target;                                        // where the entry code jumps (64-bit mode)
struct { uint32_t off; uint16_t sel; } __attribute__((packed, aligned(8))) g_far;   // far pointer (compat mode)
static sigjmp_buf g_jmp;
static volatile sig_atomic_t g_running;
static volatile uint64_t g_seq, g_seen_seq;
static case_out g_out;

void sbx_enter64(struct guest *g);
void sbx_enter32(struct guest *g);

// rdi = struct guest*. RFLAGS is loaded while RSP is still ours (POPFQ needs a stack); the moves that
// follow leave flags alone; RDI and RSP go last and the jump is through memory.
__asm__(
    ".text\n"
    ".globl sbx_enter64\n"
    "sbx_enter64:\n"
    "  fxrstor64 144(%rdi)\n"
    "  pushq 128(%rdi)\n"
    "  popfq\n"
    "  movq 0(%rdi), %rax\n  movq 8(%rdi), %rcx\n  movq 16(%rdi), %rdx\n  movq 24(%rdi), %rbx\n"
    "  movq 40(%rdi), %rbp\n  movq 48(%rdi), %rsi\n"
    "  movq 64(%rdi), %r8\n  movq 72(%rdi), %r9\n  movq 80(%rdi), %r10\n  movq 88(%rdi), %r11\n"
    "  movq 96(%rdi), %r12\n  movq 104(%rdi), %r13\n  movq 112(%rdi), %r14\n  movq 120(%rdi), %r15\n"
    "  movq 32(%rdi), %rsp\n"
    "  movq 56(%rdi), %rdi\n"
    "  jmp *g_target(%rip)\n"
    ".globl sbx_enter32\n"
    "sbx_enter32:\n"
    "  fxrstor64 144(%rdi)\n"
    "  movl $0x2b, %eax\n  movl %eax, %ds\n  movl %eax, %es\n"   // __USER_DS: DS/ES are null in 64-bit processes
    "  pushq 128(%rdi)\n"
    "  popfq\n"
    "  movq 0(%rdi), %rax\n  movq 8(%rdi), %rcx\n  movq 16(%rdi), %rdx\n  movq 24(%rdi), %rbx\n"
    "  movq 40(%rdi), %rbp\n  movq 48(%rdi), %rsi\n"
    "  movq 64(%rdi), %r8\n  movq 72(%rdi), %r9\n  movq 80(%rdi), %r10\n  movq 88(%rdi), %r11\n"
    "  movq 96(%rdi), %r12\n  movq 104(%rdi), %r13\n  movq 112(%rdi), %r14\n  movq 120(%rdi), %r15\n"
    "  movq 32(%rdi), %rsp\n"
    "  movq 56(%rdi), %rdi\n"
    "  ljmpl *g_far(%rip)\n"
);

// Signal entry: the kernel does not clear RFLAGS.AC for the handler, and the guest may have set it; with
// CR0.AM on, the handler's own unaligned accesses would fault. Clear it first, then run the C handler.
void sbx_signal_entry(int sig, siginfo_t *si, void *ctx);
__asm__(
    ".text\n"
    ".globl sbx_signal_entry\n"
    "sbx_signal_entry:\n"
    "  pushfq\n"
    "  andq $~0x40000, (%rsp)\n"
    "  popfq\n"
    "  jmp handler\n"
);

void handler(int sig, siginfo_t *si, void *ctx);
void handler(int sig, siginfo_t *si, void *ctx)
{
    (void)si;
    ucontext_t *uc = ctx;
    if (!g_running)
    {
        if (sig != SIGALRM) signal(sig, SIG_DFL);           // a fault in the sandbox itself: repeat it, fatally
        return;
    }
    if (sig == SIGALRM)
    {
        if (g_seen_seq != g_seq) { g_seen_seq = g_seq; return; }   // first tick for this case: keep going
    }
    greg_t *r = uc->uc_mcontext.gregs;
    static const int map[16] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                                 REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15 };
    for (int i = 0; i < 16; i++) g_out.gpr[i] = (uint64_t)r[map[i]];
    g_out.rflags = (uint64_t)r[REG_EFL];
    g_out.trapno = (uint32_t)r[REG_TRAPNO];
    g_out.err = (uint64_t)r[REG_ERR];
    g_out.cr2 = (uint64_t)r[REG_CR2];
    g_out.rip = (uint64_t)r[REG_RIP];
    if (sig == SIGTRAP && g_out.trapno == 3) { g_out.signo = 0; g_out.rip -= 1; }   // the INT3 after it
    else g_out.signo = (uint32_t)sig;
    if (uc->uc_mcontext.fpregs) memcpy(g_out.fx, uc->uc_mcontext.fpregs, 512);
    else memset(g_out.fx, 0, 512);
    g_running = 0;
    siglongjmp(g_jmp, 1);
}

static uint64_t xs_state;
static inline uint64_t xs_next(void)
{
    uint64_t x = xs_state;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    xs_state = x;
    return x * 0x2545F4914F6CDD1DUL;
}

/// Fills `len` bytes (a multiple of 8) from `seed`; the C# side uses the same generator.
static void fill(uint8_t *p, size_t len, uint64_t seed)
{
    xs_state = seed ? seed : 0x9E3779B97F4A7C15UL;
    for (size_t i = 0; i < len; i += 8) { uint64_t v = xs_next(); memcpy(p + i, &v, 8); }
}

static int read_full(void *p, size_t n)
{
    uint8_t *b = p;
    while (n) { ssize_t k = read(0, b, n); if (k <= 0) { if (k < 0 && errno == EINTR) continue; return 0; } b += k; n -= (size_t)k; }
    return 1;
}

static uint8_t *g_obuf; static size_t g_olen, g_ocap;
static void out(const void *p, size_t n)
{
    if (g_olen + n > g_ocap) { g_ocap = (g_olen + n) * 2; g_obuf = realloc(g_obuf, g_ocap); if (!g_obuf) { perror("sandbox: realloc"); exit(3); } }
    memcpy(g_obuf + g_olen, p, n); g_olen += n;
}
static void flush_out(void)
{
    size_t o = 0;
    while (o < g_olen) { ssize_t k = write(1, g_obuf + o, g_olen - o); if (k <= 0) { if (k < 0 && errno == EINTR) continue; perror("sandbox: write"); exit(3); } o += (size_t)k; }
    g_olen = 0;
}

int main(void)
{
    // Code: one memfd page mapped read+execute at CODE_BASE and read+write elsewhere.
    int fd = memfd_create("sbx-code", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 4096) != 0) { perror("sandbox: memfd"); return 2; }
    uint8_t *code_rx = mmap((void *)CODE_BASE, 4096, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
    uint8_t *code_rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    uint8_t *data = mmap((void *)DATA_BASE, DATA_RW + DATA_RO, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (code_rx != (void *)CODE_BASE || code_rw == MAP_FAILED || data != (void *)DATA_BASE)
    { fprintf(stderr, "sandbox: cannot map the sandbox pages at %#lx/%#lx\n", CODE_BASE, DATA_BASE); return 2; }
    memset(code_rw, 0xCC, 4096);
    static uint8_t expect[DATA_RW] __attribute__((aligned(16)));

    // Alternate signal stack: the guest's RSP is arbitrary.
    stack_t ss = { .ss_sp = malloc(1 << 16), .ss_size = 1 << 16, .ss_flags = 0 };
    if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0) { perror("sandbox: sigaltstack"); return 2; }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = sbx_signal_entry;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGALRM };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0) { perror("sandbox: sigaction"); return 2; }
    struct itimerval it = { { 0, 50000 }, { 0, 50000 } };   // a case still running after two ticks is stopped
    setitimer(ITIMER_REAL, &it, NULL);

    uint64_t ro_seed = 0;
    int ro_filled = 0;
    batch_hdr h;
    case_in *cases = NULL; size_t cap = 0;
    while (read_full(&h, sizeof h))
    {
        if (h.magic != MAGIC || (h.mode != 64 && h.mode != 32))
        { fprintf(stderr, "sandbox: bad batch header (magic %#x, mode %u)\n", h.magic, h.mode); return 2; }
        if (h.count > cap) { cap = h.count; cases = realloc(cases, cap * sizeof *cases); if (!cases) { perror("sandbox: realloc"); return 3; } }
        if (!read_full(cases, h.count * sizeof *cases)) { fprintf(stderr, "sandbox: truncated batch\n"); return 2; }
        if (!ro_filled || h.ro_seed != ro_seed)
        {
            ro_seed = h.ro_seed; ro_filled = 1;
            mprotect(data + DATA_RW, DATA_RO, PROT_READ | PROT_WRITE);
            fill(data + DATA_RW, DATA_RO, ro_seed);
            mprotect(data + DATA_RW, DATA_RO, PROT_READ);
        }
        for (volatile uint32_t c = 0; c < h.count; c++)
        {
            case_in *ci = &cases[c];
            if (ci->code_len == 0 || ci->code_len > 15 || ci->npatch > MAX_PATCH)
            { fprintf(stderr, "sandbox: bad case %u (length %u, %u patches)\n", c, ci->code_len, ci->npatch); return 2; }
            fill(expect, DATA_RW, ci->seed);
            for (int p = 0; p < ci->npatch; p++)
            {
                patch_t *pt = &ci->patch[p];
                if (pt->len > 13 || pt->off + pt->len > DATA_RW) { fprintf(stderr, "sandbox: bad patch in case %u\n", c); return 2; }
                memcpy(expect + pt->off, pt->data, pt->len);
            }
            memcpy(data, expect, DATA_RW);
            memcpy(code_rw + CODE_INSN, ci->code, ci->code_len);
            memcpy(g_in.gpr, ci->gpr, sizeof g_in.gpr);
            g_in.rflags = ci->rflags;
            memcpy(g_in.fx, ci->fx, 512);
            g_target = CODE_BASE + CODE_INSN;
            g_far.off = (uint32_t)(CODE_BASE + CODE_INSN); g_far.sel = 0x23;   // __USER32_CS
            memset(&g_out, 0, sizeof g_out);
            g_seq++;
            if (sigsetjmp(g_jmp, 0) == 0)
            {
                g_running = 1;
                if (h.mode == 64) sbx_enter64(&g_in); else sbx_enter32(&g_in);
            }
            g_running = 0;
            if (h.mode == 32) { __asm__ volatile("movl %0, %%ds\n movl %0, %%es" :: "r"(0)); }
            memset(code_rw + CODE_INSN, 0xCC, ci->code_len);
            uint32_t nd = 0;
            for (uint32_t i = 0; i < DATA_RW; i++) nd += data[i] != expect[i];
            g_out.ndiff = nd;
            out(&g_out, sizeof g_out);
            for (uint32_t i = 0; i < DATA_RW && nd; i++)
                if (data[i] != expect[i]) { diff_t d = { (uint16_t)i, data[i], expect[i] }; out(&d, sizeof d); nd--; }
        }
        flush_out();
    }
    return 0;
}
