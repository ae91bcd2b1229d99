@#- One module instance of the top: the module, its parameters (if any), the instance name and
    its port connections, one group of ports per line. Included by inq_top.v with `i` bound. -#@
@%- if i.params.is_empty() %@
  @{ i.module }@ @{ i.name }@ (
@%- else %@
  @{ i.module }@ #(
@%- for p in i.params %@
    .@{ p.name }@(@{ p.value }@)@% if !loop.last %@,@% endif %@
@%- endfor %@
  ) @{ i.name }@ (
@%- endif %@
@%- for l in i.lines %@
    @% for c in l %@.@{ c.port }@(@{ c.expr }@)@% if !loop.last %@, @% endif %@@% endfor %@@% if !loop.last %@,@% endif %@
@%- endfor %@
  );
