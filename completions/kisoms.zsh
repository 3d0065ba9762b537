#compdef kisoms

_kisoms_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _KISOMS_COMPLETE=complete_zsh kisoms)
}

compdef _kisoms_completion kisoms
