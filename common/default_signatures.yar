// Gauntlet's built-in signatures: payloads seen in malicious model files.
// They run over the strings decoded from pickles and templates, and over the
// raw bytes of content no scanner recognises. Add your own with
// [signatures] rule_files in the policy. meta.severity sets the finding's
// severity (default HIGH).

rule reverse_shell
{
  meta:
    description = "Interactive shell wired to a network socket"
    severity = "CRITICAL"
  strings:
    $bash_tcp = /bash -i >& ?\/dev\/tcp\//
    $nc_exec = /\bnc(at)? [^\n]{0,40}-e \/bin\/(ba)?sh/
    $sh_i = "/bin/sh -i"
    $pty_spawn = "pty.spawn(\"/bin/"
    $dup2 = /os\.dup2\([^)]{0,40}fileno\(\)/
  condition:
    any of them
}

rule download_and_execute
{
  meta:
    description = "Downloads a script and pipes it to a shell or interpreter"
    severity = "CRITICAL"
  strings:
    $curl_sh = /curl [^\n|]{1,200}\| ?(ba)?sh/
    $wget_sh = /wget [^\n|]{1,200}\| ?(ba)?sh/
    $py_exec = /exec\(\s*(urllib\.request\.)?urlopen\(/
    $iex = /IEX ?\(New-Object Net\.WebClient\)/ nocase
    $ps_enc = /powershell(\.exe)? [^\n]{0,40}-e(nc(odedcommand)?)? [A-Za-z0-9+\/=]{40,}/ nocase
  condition:
    any of them
}

rule credential_theft
{
  meta:
    description = "Reads cloud or SSH credentials"
    severity = "HIGH"
  strings:
    $aws = ".aws/credentials"
    $ssh = ".ssh/id_rsa"
    $gcloud = ".config/gcloud/credentials"
    $hf_token = ".cache/huggingface/token"
    $kube = ".kube/config"
  condition:
    any of them
}

rule crypto_miner
{
  meta:
    description = "Cryptocurrency miner configuration"
    severity = "HIGH"
  strings:
    $stratum = "stratum+tcp://"
    $xmrig = "xmrig" nocase
  condition:
    any of them
}
