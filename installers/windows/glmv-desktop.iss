; GLM-V Desktop for Windows: a per-user installer that needs no administrator (Inno Setup 6.3 or later).
;
;   iscc /DAppVersion=0.1.0 [/DSourceDir=dist\glmv-desktop] [/DIconFile=build\icons\glmv-desktop.ico] installers\windows\glmv-desktop.iss
;
; SourceDir is the frozen app (`python installers/build.py freeze`); relative paths are taken from the
; repository root. The setup program is written to dist\glmv-desktop-VERSION-windows-x64-setup.exe.

#if VER < EncodeVer(6, 3, 0)
  #error Inno Setup 6.3 or later is needed (for the x64compatible architecture identifier)
#endif
#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z glmv-desktop.iss
#endif
#ifndef SourceDir
  #define SourceDir "dist\glmv-desktop"
#endif
#define RootDir AddBackslash(SourcePath) + "..\.."
#define AppName "GLM-V Desktop"
#define AppExe "glmv-desktop.exe"
#define AppPublisher "GLM-V Desktop contributors"

[Setup]
; Never change AppId: it is how Setup finds an earlier install to upgrade, and names the uninstall
; entry. The doubled "{" is a literal brace ("Constants").
AppId={{4BA0EB7D-5EA3-467A-9BC7-AE634D1A1257}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher={#AppPublisher}
AppCopyright=Copyright (C) {#AppPublisher}
; Relative [Files] sources and [Setup] paths (OutputDir, SetupIconFile) are resolved against this
; ("Source Directory"), so the command line works from any folder.
SourceDir={#RootDir}
; lowest: Setup never asks for elevation and runs in non administrative install mode, where
; {autopf} is {userpf}, i.e. %LOCALAPPDATA%\Programs ("Non Administrative Install Mode").
PrivilegesRequired=lowest
DefaultDirName={autopf}\{#AppName}
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Qt 6 supports Windows 10 1809 (build 17763) and later ("Qt for Windows").
MinVersion=10.0.17763
; Upgrades: the Restart Manager closes a running copy that the "quit" in PrepareToInstall left
; running (the default, written out). It is Setup's; the uninstaller has [UninstallRun] below.
CloseApplications=yes
UninstallDisplayName={#AppName}
UninstallDisplayIcon={app}\{#AppExe}
WizardStyle=modern
Compression=lzma2
SolidCompression=yes
OutputDir=dist
OutputBaseFilename=glmv-desktop-{#AppVersion}-windows-x64-setup
#ifdef IconFile
SetupIconFile={#IconFile}
#endif

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "autostart"; Description: "Start {#AppName} when I sign in"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the whole bundle: files the previous version shipped and this one does not
; would otherwise stay in _internal next to the new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Excludes: "\LICENSE.txt,\THIRD-PARTY-NOTICES.txt"; Flags: ignoreversion recursesubdirs createallsubdirs
; Named rather than matched by the wildcard, so a bundle without them fails to compile.
Source: "{#SourceDir}\LICENSE.txt"; DestDir: "{app}"; Flags: ignoreversion
Source: "{#SourceDir}\THIRD-PARTY-NOTICES.txt"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
; "Start when I sign in" is the app's own setting: the installer turns it on, and the app writes the Run
; value at its next start (desktop/config/autostart.py), so the setting and the value never disagree.
Filename: "{app}\{#AppExe}"; Parameters: "config set app.start_at_login true"; Flags: runhidden waituntilterminated; Tasks: autostart
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallRun]
; The uninstaller's first step: a running app is asked to quit so its files can be removed ("quit"
; returns at once when none runs). RunOnceId keeps it to one run however often Setup ran over this
; install ("[Run] & [UninstallRun] sections").
Filename: "{app}\{#AppExe}"; Parameters: "quit"; Flags: runhidden skipifdoesntexist; RunOnceId: "QuitRunningApp"

[Code]
const
  RunKey = 'Software\Microsoft\Windows\CurrentVersion\Run';

function PrepareToInstall(var NeedsRestart: Boolean): String;
var
  ResultCode: Integer;
begin
  // An upgrade: ask the running version to quit before its files are replaced.
  if FileExists(ExpandConstant('{app}\{#AppExe}')) then
    Exec(ExpandConstant('{app}\{#AppExe}'), 'quit', '', SW_HIDE, ewWaitUntilTerminated, ResultCode);
  Result := '';
end;

procedure AddFolder(var Folders: String; const Path: String);
begin
  if DirExists(Path) then
    Folders := Folders + #13#10 + '    ' + Path;
end;

procedure DeleteFolder(const Path: String);
begin
  if DirExists(Path) and not DelTree(Path, True, True, True) then
    MsgBox('Some files in ' + Path + ' could not be deleted (a local model server may still be '
      + 'running). You can delete the folder yourself.', mbInformation, MB_OK);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  RoamingData, LocalData, Folders: String;
begin
  if CurUninstallStep <> usPostUninstall then
    Exit;
  // The value the app wrote for "Start when I sign in" (its own setting, which the autostart task turns on).
  RegDeleteValue(HKCU, RunKey, '{#AppName}');

  // Where the app keeps settings, chat history, logs and downloaded models (platformdirs, app name
  // "glmv-desktop": Local today; Roaming is checked too).
  RoamingData := ExpandConstant('{userappdata}\glmv-desktop');
  LocalData := ExpandConstant('{localappdata}\glmv-desktop');
  Folders := '';
  AddFolder(Folders, LocalData);
  AddFolder(Folders, RoamingData);
  // The answer is No unless someone says Yes: a silent uninstall never asks and keeps the data
  // (SuppressibleMsgBox alone would still ask under /SILENT without /SUPPRESSMSGBOXES).
  if (Folders = '') or UninstallSilent then
    Exit;
  if MsgBox('Also delete your {#AppName} data?' + #13#10#13#10
      + 'This removes your settings, chat history, logs and any models you downloaded. Models can '
      + 'take many gigabytes. The folders:' + Folders + #13#10#13#10
      + 'Choose No to keep them for a later install.',
      mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES then
  begin
    DeleteFolder(LocalData);
    DeleteFolder(RoamingData);
  end;
end;
