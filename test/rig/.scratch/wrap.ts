import { writeSpireExecWrapper } from '../components.ts';
import { rigLayout } from '../layout.ts';
import { writeFileSync, chmodSync } from 'node:fs';
const rig = rigLayout({ MESH_RIG_STATE: '/tmp/rigt/state' });
writeFileSync('/tmp/rigt/echo.sh', '#!/bin/bash\nprintf "[%s]" "$@"; echo; [[ -t 0 ]] || cat\n'); chmodSync('/tmp/rigt/echo.sh', 0o755);
writeSpireExecWrapper(rig.clusters[0]!, { 'spire-server': '/tmp/rigt/echo.sh' } as never);
