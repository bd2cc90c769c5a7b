/* TEST FIXTURE ONLY, NEVER SHIPPED.
 *
 * Rust's standard library gets its randomness on Windows from bcryptprimitives.dll!ProcessPrng,
 * which every Windows 10/11 and Windows Server 2016+ has. Wine 8.0 (Debian 12) lacks it, so under
 * wine kodo.dll would fail to load. This DLL, named bcryptprimitives.dll and put into the
 * system32 of the wine prefix the tests make, supplies ProcessPrng over advapi32!SystemFunction036 (RtlGenRandom), which wine has
 * (../shared/docs/cross-build.md). */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x7fffffffu ? 0x7fffffffu : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
