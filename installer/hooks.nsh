; hooks.nsh: uninstall clean-up for NAS Sync Monitor, shared by two NSIS scripts:
;  - installer/nas-sync-monitor.nsi (our installer, built on Linux by scripts/windows-installer.sh);
;  - Tauri 2's own NSIS bundler, through tauri.conf.json bundle.windows.nsis.installerHooks, whose
;    installer.nsi template inserts NSIS_HOOK_PREINSTALL / _POSTINSTALL / _PREUNINSTALL /
;    _POSTUNINSTALL when they are defined (only _POSTUNINSTALL is needed here).
;
; Contract with the including script (Tauri's template declares both; so does ours):
;   Var UpdateMode                  1 = the uninstaller runs as part of an update: it was started
;                                   with /UPDATE (Tauri's updater, and our installer when it
;                                   removes the previous version). Nothing of the user's goes.
;   Var DeleteAppDataCheckboxState  1 = "also delete my data" was ticked on the uninstall page.
;   /PURGE on the uninstaller's command line counts as the box ticked (for silent uninstalls).
;   LogicLib and FileFunc (GetOptions) are included below (both are include-guarded).
;
; What goes on a real uninstall (not an update):
;   - the autostart value "NAS Sync Monitor" from HKCU\...\Run and from
;     HKCU\...\Explorer\StartupApproved\Run (where Task Manager records "disabled");
;   - with the box / /PURGE only: the settings ($APPDATA\nas-sync-monitor\nas-sync.toml and its
;     .tmp/.corrupt-* siblings), archive.db (+ -wal/-shm/-journal/.lock, archive.index.db) and logs\ under
;     $LOCALAPPDATA\nas-sync-monitor, and the WebView2 cache ($LOCALAPPDATA\com.ggp.nas-sync-monitor\EBWebView).
; Only those names are deleted and the folders are removed only when left empty, so
; pokervod.db (the Target, somebody's production DB, at a configured path) is never touched,
; even if someone put it in one of these folders.

!ifndef NSM_HOOKS_NSH
!define NSM_HOOKS_NSH
!include LogicLib.nsh
!include FileFunc.nsh

!define NSM_AUTOSTART_VALUE "NAS Sync Monitor" ; = productName, the name tauri-plugin-autostart uses
!define NSM_DATA_DIR_NAME "nas-sync-monitor"   ; engine config.rs APP_DIR_NAME
!define NSM_WEBVIEW_DIR_NAME "com.ggp.nas-sync-monitor" ; the bundle identifier

!macro NSIS_HOOK_POSTUNINSTALL
  ${If} $UpdateMode <> 1
    DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Run" "${NSM_AUTOSTART_VALUE}"
    DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run" "${NSM_AUTOSTART_VALUE}"
    DetailPrint "자동 시작 항목 삭제 / Removed the autostart entry"

    Push $R0
    ClearErrors
    ${GetOptions} $CMDLINE "/PURGE" $R0
    ${IfNot} ${Errors}
      StrCpy $DeleteAppDataCheckboxState 1
    ${EndIf}
    Pop $R0

    ${If} $DeleteAppDataCheckboxState = 1
      SetShellVarContext current
      ; Settings
      Delete "$APPDATA\${NSM_DATA_DIR_NAME}\nas-sync.toml"
      Delete "$APPDATA\${NSM_DATA_DIR_NAME}\nas-sync.toml.tmp"
      Delete "$APPDATA\${NSM_DATA_DIR_NAME}\nas-sync.toml.corrupt-*"
      RMDir "$APPDATA\${NSM_DATA_DIR_NAME}"
      ; archive.db (the Source) and the logs next to it
      Delete "$LOCALAPPDATA\${NSM_DATA_DIR_NAME}\archive.db"
      Delete "$LOCALAPPDATA\${NSM_DATA_DIR_NAME}\archive.db-wal"
      Delete "$LOCALAPPDATA\${NSM_DATA_DIR_NAME}\archive.db-shm"
      Delete "$LOCALAPPDATA\${NSM_DATA_DIR_NAME}\archive.db-journal"
      Delete "$LOCALAPPDATA\${NSM_DATA_DIR_NAME}\archive.db.lock"
      ; its query index (engine index.rs: archive.index.db, + WAL files and the search cache)
      Delete "$LOCALAPPDATA\${NSM_DATA_DIR_NAME}\archive.index.db"
      Delete "$LOCALAPPDATA\${NSM_DATA_DIR_NAME}\archive.index.db-wal"
      Delete "$LOCALAPPDATA\${NSM_DATA_DIR_NAME}\archive.index.db-shm"
      Delete "$LOCALAPPDATA\${NSM_DATA_DIR_NAME}\archive.index.db.search"
      RMDir /r "$LOCALAPPDATA\${NSM_DATA_DIR_NAME}\logs"
      RMDir "$LOCALAPPDATA\${NSM_DATA_DIR_NAME}"
      ; WebView2 cache of the app's window
      RMDir /r "$LOCALAPPDATA\${NSM_WEBVIEW_DIR_NAME}\EBWebView"
      RMDir "$LOCALAPPDATA\${NSM_WEBVIEW_DIR_NAME}"
      DetailPrint "사용자 데이터 삭제(설정, archive.db, 로그) / Deleted your data (settings, archive.db, logs)"
    ${Else}
      DetailPrint "사용자 데이터는 보존됨 / Your data was kept: $APPDATA\${NSM_DATA_DIR_NAME}, $LOCALAPPDATA\${NSM_DATA_DIR_NAME}"
    ${EndIf}
  ${EndIf}
!macroend

!endif ; NSM_HOOKS_NSH
