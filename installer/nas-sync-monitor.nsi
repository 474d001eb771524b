; NAS Sync Monitor: per-user Windows installer (NSIS 3, MUI2), built on Linux by
; scripts/windows-installer.sh and tested under Wine by tests/windows/installer-wine.sh.
; Sources are UTF-8 (Korean text): makensis -INPUTCHARSET UTF8 (the script passes it).
;
; Defines (makensis -D...):
;   STAGE                  folder holding nas-sync-monitor.exe, nas-sync.exe (CLI),
;                          WebView2Loader.dll and icon.ico                    (required)
;   VERSION                e.g. 0.1.0                                          (required)
;   OUTFILE                the installer to write                              (required)
;   WEBVIEW2_BOOTSTRAPPER  MicrosoftEdgeWebview2Setup.exe to embed and run (/silent /install)
;                          when the WebView2 runtime is missing                (optional)
;   TARGET                 NSIS target, default amd64-unicode (the app is x64-only; Debian's
;                          wine64 cannot run 32-bit installers). x86-unicode also builds.
;
; Installs for the current user only, no admin: $LOCALAPPDATA\Programs\NAS Sync Monitor, a
; Start-menu shortcut with the app's AppUserModelID (toasts), an "Apps" entry under HKCU.
;
; Command line
;   installer:   /S silent, /D=<dir> install folder (last argument).
;   uninstaller: /S silent; /PURGE also delete the user's data (= the page's checkbox);
;                /UPDATE update mode (below).
; Update contract: installing over an existing install first runs the old uninstaller as
;   "<old dir>\uninstall.exe" /S /UPDATE _?=<old dir>
; (in place, waited for). With /UPDATE the uninstaller removes only the program files: the
; shortcut, the Apps entry, the autostart values (Run, StartupApproved\Run) and the user's data
; stay. Tauri's updater uses the same /UPDATE flag, so installer/hooks.nsh behaves the same in a
; Tauri-built installer.

Unicode true
!ifndef TARGET
  !define TARGET amd64-unicode
!endif
Target ${TARGET}
ManifestDPIAware true
ManifestSupportedOS all
SetCompressor /SOLID lzma
SetCompressorDictSize 32
RequestExecutionLevel user

!ifndef STAGE | VERSION | OUTFILE
  !error "makensis -DSTAGE=<dir> -DVERSION=<x.y.z> -DOUTFILE=<setup.exe> nas-sync-monitor.nsi"
!endif

!define PRODUCT "NAS Sync Monitor"
!define PUBLISHER "GGP"
!define APPEXE "nas-sync-monitor.exe"
!define CLIEXE "nas-sync.exe"
!define AUMID "com.ggp.nas-sync-monitor"
!define UNINSTKEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${PRODUCT}"
!define WEBVIEW2_GUID "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
!define WEBVIEW2_URL "https://developer.microsoft.com/microsoft-edge/webview2/"

; x.y.z[-pre] -> x.y.z.0 for the version resource.
!searchparse /noerrors "${VERSION}" "" V_MAJOR "." V_MINOR "." V_PATCH_PRE
!ifndef V_MAJOR | V_MINOR | V_PATCH_PRE
  !error "VERSION must look like 1.2.3, got '${VERSION}'"
!endif
!searchparse /noerrors "${V_PATCH_PRE}-" "" V_PATCH "-"

; User-facing text: Korean first, English second (whatever installer language is chosen).
!define T_RUNNING "${PRODUCT}이(가) 실행 중입니다. 종료하고 계속할까요?$\n$\n${PRODUCT} is running. Close it and continue?"
!define T_STILL_RUNNING "${PRODUCT}을(를) 종료하지 못했습니다. 트레이 아이콘에서 종료한 뒤 다시 시도하세요.$\n$\nCould not close ${PRODUCT}. Quit it from its tray icon, then retry."
!define T_WV2_MISSING "이 앱에는 Microsoft Edge WebView2 런타임이 필요하지만 설치되어 있지 않습니다. 설치는 계속되며, 앱을 쓰기 전에 다음 주소에서 런타임(Evergreen)을 설치하세요:$\n${WEBVIEW2_URL}$\n$\nThe Microsoft Edge WebView2 runtime is required but not installed. Setup continues; install the (Evergreen) runtime from the address above before using the app.$\n$\n지금 다운로드 페이지를 열까요? / Open the download page now?"
!define T_WV2_FAILED "WebView2 런타임을 설치하지 못했습니다(코드 $0). 설치는 계속되며, 다음 주소에서 직접 설치하세요:$\n${WEBVIEW2_URL}$\n$\nThe WebView2 runtime could not be installed (code $0). Setup continues; install it from the address above."
!define T_RUN "${PRODUCT} 실행 / Run ${PRODUCT}"
!define T_PURGE "사용자 데이터(설정, archive.db, 로그)도 삭제 / Also delete my data"

Name "${PRODUCT}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${PRODUCT}"
InstallDirRegKey HKCU "${UNINSTKEY}" "InstallLocation"
BrandingText "${PRODUCT} ${VERSION}"
ShowInstDetails show
ShowUninstDetails show

VIProductVersion "${V_MAJOR}.${V_MINOR}.${V_PATCH}.0"
VIAddVersionKey /LANG=0 "ProductName" "${PRODUCT}"
VIAddVersionKey /LANG=0 "CompanyName" "${PUBLISHER}"
VIAddVersionKey /LANG=0 "FileDescription" "${PRODUCT} Setup"
VIAddVersionKey /LANG=0 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "LegalCopyright" "${PUBLISHER}"

!include MUI2.nsh
!include LogicLib.nsh
!include FileFunc.nsh
!include x64.nsh
!include "aumid.nsh"

; The variables installer/hooks.nsh reads, with the names and meaning of Tauri's template.
Var UpdateMode
Var DeleteAppDataCheckboxState
Var DeleteAppDataCheckbox
!include "hooks.nsh"

; ---- Pages ---------------------------------------------------------------------------------
!define MUI_ICON "${STAGE}/icon.ico"
!define MUI_UNICON "${STAGE}/icon.ico"
!define MUI_ABORTWARNING
!define MUI_LANGDLL_ALLLANGUAGES
!define MUI_LANGDLL_WINDOWTITLE "언어 선택 / Installer Language"
!define MUI_LANGDLL_INFO "설치 언어를 선택하세요.$\nPlease select a language."
!define MUI_LANGDLL_REGISTRY_ROOT HKCU
!define MUI_LANGDLL_REGISTRY_KEY "${UNINSTKEY}"
!define MUI_LANGDLL_REGISTRY_VALUENAME "Installer Language"

!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!define MUI_FINISHPAGE_RUN
!define MUI_FINISHPAGE_RUN_TEXT "${T_RUN}"
!define MUI_FINISHPAGE_RUN_FUNCTION LaunchApp
!insertmacro MUI_PAGE_FINISH

!define MUI_PAGE_CUSTOMFUNCTION_SHOW un.ConfirmShow
!define MUI_PAGE_CUSTOMFUNCTION_LEAVE un.ConfirmLeave
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES

; Korean first: the fallback when Windows' UI language is neither.
!insertmacro MUI_LANGUAGE "Korean"
!insertmacro MUI_LANGUAGE "English"
!insertmacro MUI_RESERVEFILE_LANGDLL

; ---- Shared by installer and uninstaller ---------------------------------------------------
; Close the app if it runs from $INSTDIR: a running image cannot be opened for writing, which is
; the test (it only concerns this folder's copy). Ask first (silent: just do it), then taskkill
; for the current user: politely, then /F. Aborts only if the exe is still locked at the end.
!macro NSM_CLOSE_APP_FUNCTION UN
Function ${UN}CloseApp
  Push $0
  Push $1
  Push $2
  StrCpy $2 0 ; attempts
  check:
  IfFileExists "$INSTDIR\${APPEXE}" 0 done
  ClearErrors
  FileOpen $0 "$INSTDIR\${APPEXE}" a
  ${IfNot} ${Errors}
    FileClose $0
    Goto done
  ${EndIf}
  ${If} $2 = 0
    MessageBox MB_OKCANCEL|MB_ICONEXCLAMATION "${T_RUNNING}" /SD IDOK IDOK +2
    Abort
  ${EndIf}
  IntOp $2 $2 + 1
  ReadEnvStr $1 USERNAME
  ${If} $2 = 1
    DetailPrint "${PRODUCT} 종료 중 / Closing ${PRODUCT}"
    nsExec::Exec '"$SYSDIR\taskkill.exe" /IM ${APPEXE} /FI "USERNAME eq $1"'
    Pop $0
    Sleep 1500
  ${ElseIf} $2 = 2
    nsExec::Exec '"$SYSDIR\taskkill.exe" /F /IM ${APPEXE} /FI "USERNAME eq $1"'
    Pop $0
    ${If} $0 <> 0
      ; taskkill without /FI support (Wine): other users' processes cannot be killed without
      ; admin rights anyway.
      nsExec::Exec '"$SYSDIR\taskkill.exe" /F /IM ${APPEXE}'
      Pop $0
    ${EndIf}
    Sleep 1500
  ${ElseIf} $2 < 6
    Sleep 1000
  ${Else}
    MessageBox MB_RETRYCANCEL|MB_ICONSTOP "${T_STILL_RUNNING}" /SD IDCANCEL IDRETRY +2
    Abort "${T_STILL_RUNNING}"
    StrCpy $2 0
  ${EndIf}
  Goto check
  done:
  Pop $2
  Pop $1
  Pop $0
FunctionEnd
!macroend
!insertmacro NSM_CLOSE_APP_FUNCTION ""
!insertmacro NSM_CLOSE_APP_FUNCTION "un."

; ---- Installer -----------------------------------------------------------------------------
Function .onInit
  SetShellVarContext current
  !if ${NSIS_PTR_SIZE} <= 4
    ${If} ${RunningX64}
      SetRegView 64 ; a 32-bit build reads the same registry view as the 64-bit one
    ${EndIf}
  !endif
  ; Korean is preselected (NSIS would preselect English on an English Windows); a language
  ; chosen at an earlier install, saved under the Apps entry, still wins.
  StrCpy $LANGUAGE ${LANG_KOREAN}
  !insertmacro MUI_LANGDLL_DISPLAY
FunctionEnd

Function LaunchApp
  Exec '"$INSTDIR\${APPEXE}"'
FunctionEnd

; Remove the previous version (if any) with its own uninstaller in update mode, so files dropped
; from this version do not linger; the user's settings and choices stay.
Function RemovePrevious
  ReadRegStr $0 HKCU "${UNINSTKEY}" "InstallLocation"
  ${If} $0 != ""
  ${AndIf} ${FileExists} "$0\uninstall.exe"
    DetailPrint "이전 버전 제거(업데이트) / Removing the previous version (update): $0"
    ClearErrors
    ExecWait '"$0\uninstall.exe" /S /UPDATE _?=$0' $1
    ${If} ${Errors}
    ${OrIf} $1 <> 0
      DetailPrint "이전 버전 제거 실패, 덮어씀 / Previous version not removed ($1), overwriting"
    ${EndIf}
    Delete "$0\uninstall.exe" ; _?= runs it in place, so it cannot delete itself
    RMDir "$0"
  ${EndIf}
FunctionEnd

; The app's window needs the Edge WebView2 runtime (preinstalled on Windows 11 and updated 10).
Function WebView2
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_GUID}" "pv"
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    ReadRegStr $0 HKLM "SOFTWARE\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_GUID}" "pv"
  ${EndIf}
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    ReadRegStr $0 HKCU "Software\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_GUID}" "pv"
  ${EndIf}
  ${If} $0 != ""
  ${AndIf} $0 != "0.0.0.0"
    DetailPrint "WebView2 런타임 있음 / WebView2 runtime found: $0"
    Return
  ${EndIf}
  !ifdef WEBVIEW2_BOOTSTRAPPER
    DetailPrint "WebView2 런타임 설치 중 / Installing the WebView2 runtime"
    InitPluginsDir
    File "/oname=$PLUGINSDIR\MicrosoftEdgeWebview2Setup.exe" "${WEBVIEW2_BOOTSTRAPPER}"
    ClearErrors
    ExecWait '"$PLUGINSDIR\MicrosoftEdgeWebview2Setup.exe" /silent /install' $0
    ${If} ${Errors}
      StrCpy $0 "-"
    ${EndIf}
    ${If} $0 == 0
      DetailPrint "WebView2 런타임 설치됨 / WebView2 runtime installed"
    ${Else}
      DetailPrint "WebView2 런타임 설치 실패 / WebView2 runtime not installed ($0)"
      MessageBox MB_OK|MB_ICONEXCLAMATION "${T_WV2_FAILED}" /SD IDOK
    ${EndIf}
  !else
    DetailPrint "WebView2 런타임 없음 / WebView2 runtime missing: ${WEBVIEW2_URL}"
    MessageBox MB_YESNO|MB_ICONEXCLAMATION "${T_WV2_MISSING}" /SD IDNO IDNO +2
    ExecShell "open" "${WEBVIEW2_URL}"
  !endif
FunctionEnd

Section "-Install"
  SetOutPath "$INSTDIR"
  Call CloseApp
  Call RemovePrevious
  !ifmacrodef NSIS_HOOK_PREINSTALL
    !insertmacro NSIS_HOOK_PREINSTALL
  !endif

  SetOutPath "$INSTDIR"
  File "${STAGE}/${APPEXE}"
  File "${STAGE}/${CLIEXE}"
  File "${STAGE}/WebView2Loader.dll"
  File "${STAGE}/icon.ico"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortcut "$SMPROGRAMS\${PRODUCT}.lnk" "$INSTDIR\${APPEXE}" "" "$INSTDIR\icon.ico" 0
  !insertmacro NSM_SET_LNK_AUMID "$SMPROGRAMS\${PRODUCT}.lnk" "${AUMID}"

  WriteRegStr HKCU "${UNINSTKEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKCU "${UNINSTKEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTKEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINSTKEY}" "DisplayIcon" "$INSTDIR\icon.ico"
  WriteRegStr HKCU "${UNINSTKEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTKEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTKEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTKEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTKEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINSTKEY}" "EstimatedSize" $0

  Call WebView2
  !ifmacrodef NSIS_HOOK_POSTINSTALL
    !insertmacro NSIS_HOOK_POSTINSTALL
  !endif
SectionEnd

; ---- Uninstaller ---------------------------------------------------------------------------
Function un.onInit
  SetShellVarContext current
  !if ${NSIS_PTR_SIZE} <= 4
    ${If} ${RunningX64}
      SetRegView 64 ; a 32-bit build reads the same registry view as the 64-bit one
    ${EndIf}
  !endif
  ClearErrors
  ${GetOptions} $CMDLINE "/UPDATE" $0
  ${IfNot} ${Errors}
    StrCpy $UpdateMode 1
  ${EndIf}
  StrCpy $DeleteAppDataCheckboxState 0 ; /PURGE is read by hooks.nsh
  !insertmacro MUI_UNGETLANGUAGE
FunctionEnd

; Add the "also delete my data" checkbox (unchecked) under the confirm page's controls.
Function un.ConfirmShow
  FindWindow $0 "#32770" "" $HWNDPARENT ; the page's inner dialog
  ; x, y, right, bottom in dialog units (the page is 300 x 140), converted to pixels
  System::Call '*(i 0, i 78, i 300, i 92) p .r1'
  System::Call 'user32::MapDialogRect(p r0, p r1)'
  System::Call '*$1(i .r2, i .r3, i .r4, i .r5)'
  System::Free $1
  IntOp $4 $4 - $2
  IntOp $5 $5 - $3
  ; WS_CHILD|WS_VISIBLE|WS_TABSTOP|BS_AUTOCHECKBOX|BS_MULTILINE
  System::Call 'user32::CreateWindowExW(i 0, w "BUTTON", w "${T_PURGE}", i 0x50012003, i r2, i r3, i r4, i r5, p r0, p 0, p 0, p 0) p .r1'
  StrCpy $DeleteAppDataCheckbox $1
  SendMessage $0 ${WM_GETFONT} 0 0 $2
  SendMessage $DeleteAppDataCheckbox ${WM_SETFONT} $2 1
FunctionEnd

Function un.ConfirmLeave
  SendMessage $DeleteAppDataCheckbox ${BM_GETCHECK} 0 0 $DeleteAppDataCheckboxState
FunctionEnd

Section "Uninstall"
  !ifmacrodef NSIS_HOOK_PREUNINSTALL
    !insertmacro NSIS_HOOK_PREUNINSTALL
  !endif
  Call un.CloseApp

  Delete "$INSTDIR\${APPEXE}"
  Delete "$INSTDIR\${CLIEXE}"
  Delete "$INSTDIR\WebView2Loader.dll"
  Delete "$INSTDIR\icon.ico"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"

  ${If} $UpdateMode <> 1
    Delete "$SMPROGRAMS\${PRODUCT}.lnk"
    DeleteRegKey HKCU "${UNINSTKEY}"
  ${EndIf}

  ; Run + StartupApproved values and (if asked) the user's data: installer/hooks.nsh
  !ifmacrodef NSIS_HOOK_POSTUNINSTALL
    !insertmacro NSIS_HOOK_POSTUNINSTALL
  !endif
SectionEnd
