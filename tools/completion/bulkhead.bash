# bash completion for bulkhead. Install: source this file, or copy it to
# /usr/share/bash-completion/completions/bulkhead.
_bulkhead() {
  local cur prev group cmd
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD-1]}
  group=${COMP_WORDS[1]:-}
  cmd=${COMP_WORDS[2]:-}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "policy rule keys apply history diff rollback status flows learn simulate capture names --help" -- "$cur"))
    return
  fi
  if [ "$COMP_CWORD" -eq 2 ]; then
    case "$group" in
      policy) COMPREPLY=($(compgen -W "validate explain eval import-classbench fmt" -- "$cur")) ;;
      rule) COMPREPLY=($(compgen -W "list add remove move" -- "$cur")) ;;
      keys) COMPREPLY=($(compgen -W "generate" -- "$cur")) ;;
      learn) COMPREPLY=($(compgen -W "propose diff accept" -- "$cur")) ;;
      apply|simulate) COMPREPLY=($(compgen -f -- "$cur")) ;;
      capture) COMPREPLY=($(compgen -W "--prefix --drops --rule --reason --all --count --duration --rate -w --write --help" -- "$cur")) ;;
      flows) COMPREPLY=($(compgen -W "--since --until --denied --host --segment --port --top --json --pcap --controlplane --help" -- "$cur")) ;;
      names) COMPREPLY=($(compgen -W "--pcap --tls-port --json --help" -- "$cur")) ;;
    esac
    return
  fi
  case "$prev" in
    --proto) COMPREPLY=($(compgen -W "tcp udp icmp icmpv6 sctp any" -- "$cur")); return ;;
    --action) COMPREPLY=($(compgen -W "allow deny" -- "$cur")); return ;;
    --tuples|--pcap|--pass|--drop|-o|--output|--inventory|--report|--against) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --reason) COMPREPLY=($(compgen -W "policy_deny connection_revoked conn_table_full tcp_invalid fragment_unknown fragment_policy truncated_l2 truncated_ipv4 truncated_ipv6 truncated_l4" -- "$cur")); return ;;
    -w|--write) [ "$group" = capture ] && { COMPREPLY=($(compgen -f -- "$cur")); return; } ;;
    --mode) COMPREPLY=($(compgen -W "enforce audit learn" -- "$cur")); return ;;
    --tenant)
      # The names under `tenants:` in the policy file (the first argument).
      local policy=${COMP_WORDS[3]:-}
      if [ -r "$policy" ] && [[ "$policy" != -* ]]; then
        COMPREPLY=($(compgen -W "$(awk '/^tenants:/ { t = 1; next } t && /^[^ #]/ { t = 0 }
          t && /^  [^ #-][^:]*:/ { sub(/^  /, ""); sub(/:.*/, ""); print }' "$policy")" -- "$cur"))
      fi
      return ;;
  esac
  local opts=""
  case "$group $cmd" in
    "policy validate") opts="--json --no-analysis --help" ;;
    "policy explain") opts="--flow --tenant --name --sni --json --help" ;;
    "policy eval") opts="--tuples --pcap --pass --drop --tenant --json --help" ;;
    "policy import-classbench") opts="-o --output --json --help" ;;
    "policy fmt") opts="-w --write -o --output --check --help" ;;
    "rule list") opts="--tenant --json --help" ;;
    "rule add") opts="--tenant --id --from --to --proto --ports --sports --action --log --expires --description --mode --position --before --after --force --json --help" ;;
    "rule remove") opts="--tenant --id --force --json --help" ;;
    "rule move") opts="--tenant --id --position --before --after --force --json --help" ;;
    "learn propose") opts="--since --until --pcap --inventory --min-flows --scan-targets --public-peers --exact-hosts --mode --report -o --output --controlplane --help" ;;
    "learn diff") opts="--since --until --pcap --inventory --min-flows --scan-targets --public-peers --exact-hosts --mode --report --controlplane --help" ;;
    "learn accept") opts="--since --until --pcap --inventory --min-flows --scan-targets --public-peers --exact-hosts --mode --report -m --message --wait --json --controlplane --help" ;;
    flows*) opts="--since --until --denied --host --segment --port --top --json --pcap --controlplane --help" ;;
    capture*) opts="--prefix --drops --rule --reason --all --count --duration --rate -w --write --help" ;;
    names*) opts="--pcap --tls-port --json --help" ;;
    simulate*) opts="--since --until --pcap --against --list --json --controlplane --help" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _bulkhead bulkhead
