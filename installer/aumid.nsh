; aumid.nsh: stamp a Windows AppUserModelID on an existing .lnk, with only the stock System plugin.
;
; Windows shows a desktop app's toasts only when a Start-menu shortcut carries the app's
; AppUserModelID (AUMID); the app (tauri-plugin-notification) uses its bundle identifier,
; com.ggp.nas-sync-monitor. NSIS's CreateShortcut cannot set it, so after CreateShortcut we:
;   1. CoCreateInstance(CLSID_ShellLink) -> IShellLinkW
;   2. QueryInterface(IPersistFile), IPersistFile::Load(lnk, STGM_READWRITE)
;   3. QueryInterface(IPropertyStore)
;   4. IPropertyStore::SetValue(PKEY_AppUserModel_ID, PROPVARIANT{VT_LPWSTR, "the id"}), ::Commit
;   5. IPersistFile::Save(lnk, TRUE)
; COM is already initialised by the NSIS runtime (CreateShortcut needs it too).
; Fails soft: every step checks its HRESULT; on failure it DetailPrints which step failed and the
; HRESULT, releases what it holds and carries on (the shortcut stays usable, only toasts suffer).
;
; Usage:  !insertmacro NSM_SET_LNK_AUMID "$SMPROGRAMS\NAS Sync Monitor.lnk" "com.ggp.nas-sync-monitor"
; Clobbers nothing: $R0-$R7 are saved and restored. Works for the x86 and amd64 NSIS targets.
;
; vtable slots used (IUnknown: 0 QueryInterface, 1 AddRef, 2 Release):
;   IPersistFile   : 5 Load(LPCOLESTR, DWORD), 6 Save(LPCOLESTR, BOOL)
;   IPropertyStore : 6 SetValue(REFPROPERTYKEY, REFPROPVARIANT), 7 Commit()

!ifndef NSM_AUMID_NSH
!define NSM_AUMID_NSH
!include LogicLib.nsh

!define NSM_CLSID_ShellLink      "{00021401-0000-0000-C000-000000000046}"
!define NSM_IID_IShellLinkW      "{000214F9-0000-0000-C000-000000000046}"
!define NSM_IID_IPersistFile     "{0000010B-0000-0000-C000-000000000046}"
!define NSM_IID_IPropertyStore   "{886D8EEB-8CF2-4446-8D02-CDBA1DBDCF99}"
; PKEY_AppUserModel_ID = {9F4C2855-9F79-4B39-A8D0-E1D42DE1D5F3}, pid 5
!define NSM_FMTID_AppUserModel   "{9F4C2855-9F79-4B39-A8D0-E1D42DE1D5F3}"
!define NSM_VT_LPWSTR 31
!define NSM_STGM_READWRITE 2
!define NSM_CLSCTX_INPROC_SERVER 1

!macro NSM_SET_LNK_AUMID LNK AUMID
  Push $R0 ; IShellLinkW*
  Push $R1 ; HRESULT of the last call
  Push $R2 ; IPersistFile*
  Push $R3 ; IPropertyStore*
  Push $R4 ; CoTaskMem copy of the id (the PROPVARIANT's pwszVal)
  Push $R5 ; PROPERTYKEY*
  Push $R6 ; PROPVARIANT*
  Push $R7 ; name of the step that failed ("" = all good)
  StrCpy $R7 "CoCreateInstance(ShellLink)"
  System::Call 'ole32::CoCreateInstance(g "${NSM_CLSID_ShellLink}", p 0, i ${NSM_CLSCTX_INPROC_SERVER}, g "${NSM_IID_IShellLinkW}", *p .R0) i .R1'
  ${If} $R1 = 0
    StrCpy $R7 "QueryInterface(IPersistFile)"
    System::Call '$R0->0(g "${NSM_IID_IPersistFile}", *p .R2) i .R1'
    ${If} $R1 = 0
      StrCpy $R7 "IPersistFile::Load"
      System::Call '$R2->5(w "${LNK}", i ${NSM_STGM_READWRITE}) i .R1'
      ${If} $R1 = 0
        StrCpy $R7 "QueryInterface(IPropertyStore)"
        System::Call '$R0->0(g "${NSM_IID_IPropertyStore}", *p .R3) i .R1'
        ${If} $R1 = 0
          StrCpy $R7 "SHStrDupW"
          System::Call 'shlwapi::SHStrDupW(w "${AUMID}", *p .R4) i .R1'
          ${If} $R1 = 0
            ; PROPERTYKEY { GUID fmtid; DWORD pid; }
            System::Call '*(&g16 "${NSM_FMTID_AppUserModel}", &i4 5) p .R5'
            ; PROPVARIANT { VARTYPE vt; WORD r1, r2, r3; union { LPWSTR pwszVal; ... } }:
            ; 24 bytes on 64-bit, 16 on 32-bit.
            !if ${NSIS_PTR_SIZE} > 4
              System::Call '*(&i2 ${NSM_VT_LPWSTR}, &i6 0, p $R4, &i8 0) p .R6'
            !else
              System::Call '*(&i2 ${NSM_VT_LPWSTR}, &i6 0, p $R4, &i4 0) p .R6'
            !endif
            StrCpy $R7 "IPropertyStore::SetValue"
            System::Call '$R3->6(p $R5, p $R6) i .R1'
            ${If} $R1 = 0
              StrCpy $R7 "IPropertyStore::Commit"
              System::Call '$R3->7() i .R1'
            ${EndIf}
            System::Free $R5
            System::Free $R6
            System::Call 'ole32::CoTaskMemFree(p $R4)'
          ${EndIf}
          System::Call '$R3->2()'
          ${If} $R1 = 0
            StrCpy $R7 "IPersistFile::Save"
            System::Call '$R2->6(w "${LNK}", i 1) i .R1'
          ${EndIf}
        ${EndIf}
      ${EndIf}
      System::Call '$R2->2()'
    ${EndIf}
    System::Call '$R0->2()'
  ${EndIf}
  ${If} $R1 = 0
    DetailPrint "바로 가기에 알림용 AppUserModelID 설정: ${AUMID} / Shortcut AppUserModelID set: ${AUMID}"
  ${Else}
    IntFmt $R1 "0x%08X" $R1
    DetailPrint "바로 가기 AppUserModelID 설정 실패(알림이 안 보일 수 있음) / Could not set the shortcut AppUserModelID (toasts may not show): $R7 = $R1"
  ${EndIf}
  Pop $R7
  Pop $R6
  Pop $R5
  Pop $R4
  Pop $R3
  Pop $R2
  Pop $R1
  Pop $R0
!macroend

!endif ; NSM_AUMID_NSH
