/* Wine 8.0 (Debian 12) lacks bcryptprimitives.dll, which Rust's std (1.78+) imports for
 * ProcessPrng, its random source on Windows 10+. Under Wine only, this stand-in provides
 * ProcessPrng through BCryptGenRandom; real Windows ships the DLL. Built by
 * scripts/windows-test.sh into the Wine prefix's system32. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
