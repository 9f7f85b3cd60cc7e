<#
.SYNOPSIS
    Sign files with signtool when a code-signing certificate is configured; otherwise say so and succeed.

.DESCRIPTION
    Used for dist\glmv-desktop\glmv-desktop.exe before it is packaged, and for the setup program after.

    WINDOWS_CERT_PFX        the certificate with its private key: a .pfx file's path, or its content in base64
    WINDOWS_CERT_PASSWORD   the .pfx password
    WINDOWS_TIMESTAMP_URL   an RFC 3161 time-stamp server (optional; DigiCert's by default)

.EXAMPLE
    ./installers/windows/sign.ps1 dist\glmv-desktop\glmv-desktop.exe
#>
param(
    [Parameter(Mandatory = $true, ValueFromRemainingArguments = $true)]
    [string[]] $Path
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

if (-not $env:WINDOWS_CERT_PFX -or -not $env:WINDOWS_CERT_PASSWORD) {
    Write-Host "Code signing skipped: WINDOWS_CERT_PFX and WINDOWS_CERT_PASSWORD are not both set ($($Path -join ', ') stays unsigned)."
    exit 0
}

function Find-SignTool {
    $command = Get-Command signtool.exe -ErrorAction SilentlyContinue
    if ($command) { return $command.Source }
    # The Windows SDK puts one per SDK version in Windows Kits\10\bin\<version>\x64 ("SignTool"); take the newest.
    $kits = Join-Path ${env:ProgramFiles(x86)} 'Windows Kits\10\bin'
    $newest = Get-ChildItem -Path $kits -Filter signtool.exe -Recurse -ErrorAction SilentlyContinue |
        Where-Object { $_.Directory.Name -eq 'x64' } |
        Sort-Object -Descending -Property { $version = $null; [void][version]::TryParse($_.Directory.Parent.Name, [ref]$version); $version } |
        Select-Object -First 1
    if (-not $newest) { throw 'signtool.exe was not found: install the Windows SDK.' }
    return $newest.FullName
}

$signtool = Find-SignTool
$timestampUrl = if ($env:WINDOWS_TIMESTAMP_URL) { $env:WINDOWS_TIMESTAMP_URL } else { 'http://timestamp.digicert.com' }

$isFile = $false
try { $isFile = Test-Path -LiteralPath $env:WINDOWS_CERT_PFX -PathType Leaf } catch { $isFile = $false }
$pfx = $env:WINDOWS_CERT_PFX
$temporary = $null
if (-not $isFile) {
    $temporary = Join-Path ([System.IO.Path]::GetTempPath()) ("glmv-sign-" + [guid]::NewGuid() + ".pfx")
    [System.IO.File]::WriteAllBytes($temporary, [Convert]::FromBase64String($env:WINDOWS_CERT_PFX))
    $pfx = $temporary
}

try {
    foreach ($file in $Path) {
        # /fd and /td choose SHA-256 for the file and the time-stamp digests, which current SignTool
        # versions require; /tr asks an RFC 3161 server, whose time stamp keeps the signature valid after
        # the certificate expires ("SignTool"). Time-stamp servers fail now and then: try three times.
        for ($attempt = 1; ; $attempt++) {
            & $signtool sign /fd sha256 /tr $timestampUrl /td sha256 /d 'GLM-V Desktop' /f $pfx /p $env:WINDOWS_CERT_PASSWORD $file
            if ($LASTEXITCODE -eq 0) { break }
            if ($attempt -ge 3) { throw "signtool could not sign $file (exit code $LASTEXITCODE)." }
            Start-Sleep -Seconds 10
        }
        & $signtool verify /pa $file
        if ($LASTEXITCODE -ne 0) { throw "The signature on $file does not verify (exit code $LASTEXITCODE)." }
        Write-Host "Signed $file"
    }
}
finally {
    if ($temporary) { Remove-Item -LiteralPath $temporary -Force -ErrorAction SilentlyContinue }
}
