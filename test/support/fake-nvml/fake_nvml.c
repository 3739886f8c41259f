/*
 * A fake libnvidia-ml.so.1 for tests: the nvml.h signatures the fabric binds, backed by a
 * text file instead of a GPU. The file named by $FAKE_NVML_STATE is re-read on every call,
 * so a test can change "used" memory between two reads. Format, one item per line:
 *
 *   gpu  <uuid> <totalBytes> <usedBytes> <gpuUtil%|na> <memUtil%|na> <name, may contain spaces>
 *   proc <gpuIndex> <pid> <usedBytes|na>
 *   fail <nvmlFunctionName> <nvmlReturn_t>     (that function returns this code, before anything else)
 *   # comment
 *
 * No file (or no variable) means a machine with the driver but no GPU.
 * Build: gcc -shared -fPIC -o libnvidia-ml.so.1 fake_nvml.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_UNKNOWN 999

#define NVML_VALUE_NOT_AVAILABLE_ULL 0xFFFFFFFFFFFFFFFFULL
#define NO_INSTANCE 0xFFFFFFFFu

/* Real NVML hands out pointers to driver structs; here a pointer into a static array. */
typedef struct nvmlDevice_st {
    unsigned int index;
} *nvmlDevice_t;

typedef struct nvmlMemory_st {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

typedef struct nvmlUtilization_st {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

/* nvmlProcessInfo_v2_t, which nvml.h also names nvmlProcessInfo_t (24 bytes on x86-64). */
typedef struct nvmlProcessInfo_v2_st {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

#define MAX_GPUS 16
#define MAX_PROCS 64
#define MAX_FAILS 32

struct fake_gpu {
    char uuid[96];
    char name[96];
    unsigned long long total;
    unsigned long long used;
    int util;     /* -1: not supported */
    int mem_util;
};

struct fake_proc {
    unsigned int gpu;
    unsigned int pid;
    unsigned long long used;
};

struct fake_fail {
    char fn[96];
    int code;
};

static struct {
    unsigned int gpu_count;
    struct fake_gpu gpus[MAX_GPUS];
    unsigned int proc_count;
    struct fake_proc procs[MAX_PROCS];
    unsigned int fail_count;
    struct fake_fail fails[MAX_FAILS];
} state;

static struct nvmlDevice_st handles[MAX_GPUS];
static int init_count = 0;

static int parse_percent(const char *text)
{
    return strcmp(text, "na") == 0 ? -1 : atoi(text);
}

static void parse_line(char *line)
{
    char a[96], b[96], c[32], d[32];
    unsigned long long total, used;
    int code, offset = 0;
    unsigned int gpu, pid;

    line[strcspn(line, "\r\n")] = 0;
    if (sscanf(line, "gpu %95s %llu %llu %31s %31s %n", a, &total, &used, c, d, &offset) == 5 && offset > 0) {
        if (state.gpu_count >= MAX_GPUS) return;
        struct fake_gpu *g = &state.gpus[state.gpu_count++];
        snprintf(g->uuid, sizeof g->uuid, "%s", a);
        snprintf(g->name, sizeof g->name, "%s", line + offset);
        g->total = total;
        g->used = used;
        g->util = parse_percent(c);
        g->mem_util = parse_percent(d);
    } else if (sscanf(line, "proc %u %u %95s", &gpu, &pid, b) == 3) {
        if (state.proc_count >= MAX_PROCS) return;
        struct fake_proc *p = &state.procs[state.proc_count++];
        p->gpu = gpu;
        p->pid = pid;
        p->used = strcmp(b, "na") == 0 ? NVML_VALUE_NOT_AVAILABLE_ULL : strtoull(b, NULL, 10);
    } else if (sscanf(line, "fail %95s %d", a, &code) == 2) {
        if (state.fail_count >= MAX_FAILS) return;
        struct fake_fail *f = &state.fails[state.fail_count++];
        snprintf(f->fn, sizeof f->fn, "%s", a);
        f->code = code;
    }
}

static void load_state(void)
{
    char line[512];
    const char *path = getenv("FAKE_NVML_STATE");

    memset(&state, 0, sizeof state);
    if (path == NULL || *path == 0) return;
    FILE *file = fopen(path, "r");
    if (file == NULL) return;
    while (fgets(line, sizeof line, file) != NULL) {
        if (line[0] != '#') parse_line(line);
    }
    fclose(file);
}

/* Re-reads the state and returns the code a test forced on `fn`, or NVML_SUCCESS. */
static nvmlReturn_t enter(const char *fn, int needs_init)
{
    load_state();
    for (unsigned int i = 0; i < state.fail_count; i++) {
        if (strcmp(state.fails[i].fn, fn) == 0) return state.fails[i].code;
    }
    if (needs_init && init_count == 0) return NVML_ERROR_UNINITIALIZED;
    return NVML_SUCCESS;
}

static struct fake_gpu *gpu_of(nvmlDevice_t device)
{
    if (device < handles || device >= handles + state.gpu_count) return NULL;
    return &state.gpus[device->index];
}

static nvmlReturn_t copy_string(const char *value, char *out, unsigned int length)
{
    if (out == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(value) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(out, value, strlen(value) + 1);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void)
{
    nvmlReturn_t rc = enter("nvmlInit_v2", 0);
    if (rc == NVML_SUCCESS) init_count++;
    return rc;
}

nvmlReturn_t nvmlShutdown(void)
{
    nvmlReturn_t rc = enter("nvmlShutdown", 1);
    if (rc == NVML_SUCCESS) init_count--;
    return rc;
}

const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
        case 0: return "Success";
        case 1: return "Uninitialized";
        case 2: return "Invalid Argument";
        case 3: return "Not Supported";
        case 4: return "Insufficient Permissions";
        case 6: return "Not Found";
        case 7: return "Insufficient Size";
        case 9: return "Driver Not Loaded";
        case 10: return "Timeout";
        case 15: return "GPU is lost";
        case 18: return "RM has detected an NVML/RM version mismatch.";
        default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    nvmlReturn_t rc = enter("nvmlDeviceGetCount_v2", 1);
    if (rc != NVML_SUCCESS) return rc;
    if (deviceCount == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *deviceCount = state.gpu_count;
    return NVML_SUCCESS;
}

/* A CUDA 13.0 driver and Hopper (sm_90) GPUs, as on the H200 the GPU check ran on. */
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    nvmlReturn_t rc = enter("nvmlSystemGetCudaDriverVersion_v2", 1);
    if (rc != NVML_SUCCESS) return rc;
    if (cudaDriverVersion == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *cudaDriverVersion = 13000;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    nvmlReturn_t rc = enter("nvmlDeviceGetHandleByIndex_v2", 1);
    if (rc != NVML_SUCCESS) return rc;
    if (device == NULL || index >= state.gpu_count) return NVML_ERROR_INVALID_ARGUMENT;
    handles[index].index = index;
    *device = &handles[index];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor)
{
    nvmlReturn_t rc = enter("nvmlDeviceGetCudaComputeCapability", 1);
    if (rc != NVML_SUCCESS) return rc;
    if (device == NULL || major == NULL || minor == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *major = 9;
    *minor = 0;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    nvmlReturn_t rc = enter("nvmlDeviceGetName", 1);
    if (rc != NVML_SUCCESS) return rc;
    struct fake_gpu *g = gpu_of(device);
    return g == NULL ? NVML_ERROR_INVALID_ARGUMENT : copy_string(g->name, name, length);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    nvmlReturn_t rc = enter("nvmlDeviceGetUUID", 1);
    if (rc != NVML_SUCCESS) return rc;
    struct fake_gpu *g = gpu_of(device);
    return g == NULL ? NVML_ERROR_INVALID_ARGUMENT : copy_string(g->uuid, uuid, length);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    nvmlReturn_t rc = enter("nvmlDeviceGetMemoryInfo", 1);
    if (rc != NVML_SUCCESS) return rc;
    struct fake_gpu *g = gpu_of(device);
    if (g == NULL || memory == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    memory->total = g->total;
    memory->used = g->used;
    memory->free = g->total - g->used;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    nvmlReturn_t rc = enter("nvmlDeviceGetUtilizationRates", 1);
    if (rc != NVML_SUCCESS) return rc;
    struct fake_gpu *g = gpu_of(device);
    if (g == NULL || utilization == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (g->util < 0) return NVML_ERROR_NOT_SUPPORTED;
    utilization->gpu = (unsigned int)g->util;
    utilization->memory = g->mem_util < 0 ? 0 : (unsigned int)g->mem_util;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos)
{
    nvmlReturn_t rc = enter("nvmlDeviceGetComputeRunningProcesses_v3", 1);
    if (rc != NVML_SUCCESS) return rc;
    struct fake_gpu *g = gpu_of(device);
    if (g == NULL || infoCount == NULL) return NVML_ERROR_INVALID_ARGUMENT;

    unsigned int found = 0;
    for (unsigned int i = 0; i < state.proc_count; i++) {
        if (state.procs[i].gpu == device->index) found++;
    }
    /* As documented: a short buffer gets the needed count back with INSUFFICIENT_SIZE. */
    if (*infoCount < found) {
        *infoCount = found;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    if (found > 0 && infos == NULL) return NVML_ERROR_INVALID_ARGUMENT;

    unsigned int n = 0;
    for (unsigned int i = 0; i < state.proc_count; i++) {
        if (state.procs[i].gpu != device->index) continue;
        infos[n].pid = state.procs[i].pid;
        infos[n].usedGpuMemory = state.procs[i].used;
        infos[n].gpuInstanceId = NO_INSTANCE;
        infos[n].computeInstanceId = NO_INSTANCE;
        n++;
    }
    *infoCount = n;
    return NVML_SUCCESS;
}
