export const id = 310;
export const ids = [310];
export const modules = {

/***/ 5310:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  runClusterPhases: () => (/* binding */ runClusterPhases)
});

// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js + 8 modules
var core = __webpack_require__(6058);
// EXTERNAL MODULE: ./src/kubeconfig.ts
var kubeconfig = __webpack_require__(5180);
// EXTERNAL MODULE: external "node:http"
var external_node_http_ = __webpack_require__(7067);
var external_node_http_default = /*#__PURE__*/__webpack_require__.n(external_node_http_);
// EXTERNAL MODULE: external "node:https"
var external_node_https_ = __webpack_require__(4708);
var external_node_https_default = /*#__PURE__*/__webpack_require__.n(external_node_https_);
// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __webpack_require__(7075);
// EXTERNAL MODULE: ./node_modules/p-retry/index.js + 1 modules
var p_retry = __webpack_require__(4995);
// EXTERNAL MODULE: ./node_modules/@kubernetes/client-node/dist/index.js + 875 modules
var dist = __webpack_require__(7010);
// EXTERNAL MODULE: ./src/config.ts
var config = __webpack_require__(2973);
;// CONCATENATED MODULE: ./src/k8s-object.ts
// A Kubernetes object as rendered or read back: just enough typing to route it
// (kind, name, namespace, labels) without depending on the client library, so
// that pure code (render, plan, analyzers) never loads @kubernetes/client-node.
const objectRef = (o) => `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

// EXTERNAL MODULE: ./src/cluster/errors.ts
var errors = __webpack_require__(8859);
;// CONCATENATED MODULE: ./src/cluster/client.ts
// The one place that talks to a cluster: server-side apply with our field
// manager, read, list, delete, wait by watch, exec. Transient failures are
// retried within the run's timeout; everything else becomes a ClusterError.








class ClusterClient {
    cluster;
    server;
    timeoutMs;
    kc;
    objects;
    constructor(cluster, server, kubeconfigYaml, timeoutMs) {
        this.cluster = cluster;
        this.server = server;
        this.timeoutMs = timeoutMs;
        this.kc = new dist/* KubeConfig */.ypW();
        this.kc.loadFromString(kubeconfigYaml);
        this.kc.setCurrentContext(cluster.context);
        this.objects = dist/* KubernetesObjectApi */.e1Y.makeApiClient(this.kc);
    }
    fail(what, error) {
        if (error instanceof errors/* ClusterError */.b$)
            return error;
        return new errors/* ClusterError */.b$(this.cluster.context, `${what}: ${(0,errors/* describeError */.Uc)(error)}`);
    }
    /** Retries transient errors until the run's timeout; other errors stop at once. */
    async retry(what, fn, timeoutMs = this.timeoutMs) {
        try {
            return await (0,p_retry/* default */.Ay)(async () => {
                try {
                    return await fn();
                }
                catch (error) {
                    if ((0,errors/* isTransient */.dg)(error))
                        throw error instanceof Error ? error : new Error(String(error));
                    throw new p_retry/* AbortError */.lc(this.fail(what, error));
                }
            }, { retries: 1000, minTimeout: 250, maxTimeout: 5000, maxRetryTime: timeoutMs });
        }
        catch (error) {
            throw this.fail(what, error);
        }
    }
    /** Fails fast, naming the cluster and server, when the API server cannot be reached. */
    async checkReachable() {
        const version = this.kc.makeApiClient(dist/* VersionApi */.Nq_);
        try {
            const info = await this.retry('reach the API server', () => version.getCode(), Math.min(this.timeoutMs, 30_000));
            return info.gitVersion;
        }
        catch (error) {
            throw new errors/* ClusterError */.b$(this.cluster.context, `cannot reach the API server at ${this.server} (${(0,errors/* describeError */.Uc)(error).replace(/^cluster '[^']*': /, '')}). Check that the cluster is up and that the kubeconfig for this context is current.`);
        }
    }
    async read(header) {
        return this.retry(`read ${objectRef(header)}`, async () => {
            try {
                return (await this.objects.read(header));
            }
            catch (error) {
                if ((0,errors/* httpStatus */.nG)(error) === 404 && !(0,errors/* isTransient */.dg)(error))
                    return null;
                throw error;
            }
        });
    }
    async list(apiVersion, kind, options = {}) {
        return this.retry(`list ${kind}`, async () => {
            try {
                const result = await this.objects.list(apiVersion, kind, options.namespace, undefined, undefined, undefined, options.fieldSelector, options.labelSelector);
                return (result.items ?? []).map((item) => ({ apiVersion, kind, ...item }));
            }
            catch (error) {
                // A kind whose CRD is not installed has nothing of ours to list.
                if (/Unrecognized API version and kind/.test(String(error.message)))
                    return [];
                if ((0,errors/* httpStatus */.nG)(error) === 404 && !(0,errors/* isTransient */.dg)(error))
                    return [];
                throw error;
            }
        });
    }
    /**
     * One raw request to the API server. Apply bodies go out as the JSON we
     * rendered: the client's typed serializer drops keys it models under other
     * names (a CRD schema's `x-kubernetes-preserve-unknown-fields`, `enum`,
     * `default`), which would silently corrupt what we apply.
     */
    async request(method, path, query, body, contentType) {
        const options = { method, headers: {} };
        await this.kc.applyToHTTPSOptions(options);
        const base = this.kc.getCurrentCluster()?.server.replace(/\/+$/, '') ?? this.server;
        const url = new URL(base + path);
        for (const [key, value] of Object.entries(query))
            url.searchParams.set(key, value);
        const transport = url.protocol === 'http:' ? (external_node_http_default()) : (external_node_https_default());
        return new Promise((resolve, reject) => {
            const req = transport.request(url, {
                ...options,
                headers: { ...options.headers, 'Content-Type': contentType, Accept: 'application/json' },
            }, (res) => {
                const chunks = [];
                res.on('data', (chunk) => chunks.push(chunk));
                res.on('end', () => {
                    const text = Buffer.concat(chunks).toString('utf8');
                    const status = res.statusCode ?? 0;
                    if (status >= 400)
                        reject(Object.assign(new Error(`HTTP ${status}`), { code: status, body: text }));
                    else
                        resolve(JSON.parse(text));
                });
                res.on('error', reject);
            });
            req.setTimeout(60_000, () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
            req.on('error', reject);
            req.end(body);
        });
    }
    /** Server-side apply; reports whether the object was created, changed or left as it was. */
    async applyOne(object, fieldManager = config/* FIELD_MANAGER */.vy) {
        const ref = objectRef(object);
        const before = await this.read(object);
        const after = await this.retry(`apply ${ref}`, async () => {
            const path = await this.objects.specUriPath({ ...object, metadata: { ...object.metadata } }, 'patch');
            return this.request('PATCH', path, { fieldManager, force: 'true' }, JSON.stringify(object), 'application/apply-patch+yaml');
        });
        const action = !before
            ? 'created'
            : before.metadata.resourceVersion === after.metadata?.resourceVersion
                ? 'unchanged'
                : 'changed';
        return { ref, action };
    }
    /** Dry-run create: proves admission (webhooks included) answers without persisting anything. */
    async dryRunCreate(object) {
        await this.objects.create(object, undefined, 'All', config/* FIELD_MANAGER */.vy);
    }
    async delete(header) {
        return this.retry(`delete ${objectRef(header)}`, async () => {
            try {
                await this.objects.delete(header, undefined, undefined, undefined, undefined, 'Background');
                return 'deleted';
            }
            catch (error) {
                if ((0,errors/* httpStatus */.nG)(error) === 404 && !(0,errors/* isTransient */.dg)(error))
                    return 'absent';
                throw error;
            }
        });
    }
    /** Patches the status subresource (cert-manager's "renew now" is a status condition). */
    async patchStatus(header, status) {
        const path = await this.objects.specUriPath({ ...header }, 'read');
        const custom = this.kc.makeApiClient(dist/* CustomObjectsApi */.aVm);
        const [group, version] = header.apiVersion.split('/');
        const plural = path.split('/').at(-2);
        await this.retry(`update status of ${objectRef(header)}`, () => custom.patchNamespacedCustomObjectStatus({
            group,
            version,
            namespace: header.metadata.namespace ?? '',
            plural,
            name: header.metadata.name,
            body: { status },
        }, dist/* setHeaderOptions */.OkF('Content-Type', dist/* PatchStrategy */.Qve.MergePatch)));
    }
    /**
     * Waits, by watch, until `done` holds for the named object. Returns the object.
     * `describe` says what is still missing, for the timeout message.
     */
    async waitFor(header, done, describe, timeoutMs = this.timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        let last = null;
        while (Date.now() < deadline) {
            last = await this.read(header);
            if (last && done(last))
                return last;
            const seen = await this.watchUntil(header, done, deadline, last?.metadata.resourceVersion);
            if (seen)
                return seen;
        }
        throw this.timedOut(header, timeoutMs, describe(last));
    }
    timedOut(header, timeoutMs, what) {
        return new errors/* ClusterError */.b$(this.cluster.context, `timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${objectRef(header)}: ${what}. Raise 'timeout' if the cluster is slow.`);
    }
    /** Waits, by watch, until the named object no longer exists. */
    async waitForGone(header, timeoutMs = this.timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
            const current = await this.read(header);
            if (!current)
                return;
            if (await this.watchUntil(header, () => false, deadline, current.metadata.resourceVersion, true))
                return;
        }
        throw this.timedOut(header, timeoutMs, 'it still exists (finalizers or terminating pods?)');
    }
    /** One watch call; resolves with the object once `done` holds, or null when the watch ends first. */
    async watchUntil(header, done, deadline, resourceVersion, untilDeleted = false) {
        const listPath = await this.retry('discover API', () => this.objects.specUriPath({
            apiVersion: header.apiVersion,
            kind: header.kind,
            metadata: { namespace: header.metadata.namespace },
        }, 'list'));
        const remainingS = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
        const watch = new dist/* Watch */.ox1(this.kc);
        return new Promise((resolve) => {
            let controller;
            let settled = false;
            const finish = (value) => {
                if (settled)
                    return;
                settled = true;
                clearTimeout(timer);
                controller?.abort();
                resolve(value);
            };
            const timer = setTimeout(() => finish(null), deadline - Date.now());
            watch
                .watch(listPath, {
                fieldSelector: `metadata.name=${header.metadata.name}`,
                timeoutSeconds: Math.min(remainingS, 300),
                ...(resourceVersion ? { resourceVersion, allowWatchBookmarks: true } : {}),
            }, (type, object) => {
                if (untilDeleted && type === 'DELETED')
                    finish(object);
                else if ((type === 'ADDED' || type === 'MODIFIED') && done(object))
                    finish(object);
            }, () => finish(null))
                .then((c) => {
                controller = c;
                if (settled)
                    c.abort();
            })
                .catch(() => finish(null));
        });
    }
    async podLog(namespace, name, container, sinceSeconds) {
        const core = this.kc.makeApiClient(dist/* CoreV1Api */.f5Y);
        return this.retry(`read the log of ${namespace}/${name}`, () => core.readNamespacedPodLog({ name, namespace, container, sinceSeconds }));
    }
    /** Runs a command in a container through the API server; never throws on a non-zero exit. */
    async exec(namespace, pod, container, command, options = {}) {
        const timeoutMs = options.timeoutMs ?? this.timeoutMs;
        const stdin = options.stdin === undefined ? null : external_node_stream_.Readable.from([Buffer.from(options.stdin)]);
        const exec = new dist/* Exec */.WoD(this.kc);
        const stdout = new external_node_stream_.PassThrough();
        const stderr = new external_node_stream_.PassThrough();
        const out = [];
        const err = [];
        stdout.on('data', (chunk) => out.push(chunk));
        stderr.on('data', (chunk) => err.push(chunk));
        const what = `exec in ${namespace}/${pod} (${container})`;
        const exitCode = await new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new errors/* ClusterError */.b$(this.cluster.context, `${what} timed out after ${Math.round(timeoutMs / 1000)}s`)), timeoutMs);
            exec
                .exec(namespace, pod, container, command, stdout, stderr, stdin, false, (status) => {
                clearTimeout(timer);
                if (status.status === 'Success')
                    resolve(0);
                else {
                    const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
                    resolve(cause?.message ? Number(cause.message) : -1);
                }
            })
                .then((socket) => socket.on('close', () => setTimeout(() => {
                clearTimeout(timer);
                resolve(-1);
            }, 1000)))
                .catch((error) => {
                clearTimeout(timer);
                reject(this.fail(what, error));
            });
        });
        return {
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
            exitCode,
        };
    }
}

// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(1455);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
// EXTERNAL MODULE: ./node_modules/@actions/tool-cache/lib/tool-cache.js + 2 modules
var tool_cache = __webpack_require__(9805);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: external "node:stream/promises"
var external_node_stream_promises_ = __webpack_require__(6466);
;// CONCATENATED MODULE: ./src/tools/checksum.ts



const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Hex sha256 of a file, streamed so large archives are never held in memory. */
async function sha256File(path) {
    const hash = (0,external_node_crypto_.createHash)('sha256');
    await (0,external_node_stream_promises_.pipeline)((0,external_node_fs_.createReadStream)(path), hash);
    return hash.digest('hex');
}
function sha256Text(text) {
    return (0,external_node_crypto_.createHash)('sha256').update(text).digest('hex');
}
/**
 * The digest in a `<hex> <name>` checksum file. Split on any whitespace: Istio writes a single
 * space, `sha256sum` two, and mirrors may add CRLF.
 */
function parseSha256File(content, url) {
    const digest = content.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
    if (!SHA256_HEX.test(digest)) {
        throw new Error(`The checksum file ${url} does not start with a sha256 digest (64 hex characters); ` +
            'the mirror may be serving an error page instead of the file.');
    }
    return digest;
}

;// CONCATENATED MODULE: ./src/tools/cache-record.ts



const RECORD_SUFFIX = '.install.json';
function recordPath(dir, file) {
    return (0,external_node_path_.join)(dir, `${file}${RECORD_SUFFIX}`);
}
async function writeCacheRecord(dir, record) {
    await (0,promises_.writeFile)(recordPath(dir, record.file), `${JSON.stringify(record, null, 2)}\n`);
}
/** Re-hashes a cached file and compares it with the digest recorded at install time. */
async function verifyCachedFile(dir, file) {
    let record;
    try {
        record = JSON.parse(await (0,promises_.readFile)(recordPath(dir, file), 'utf8'));
    }
    catch {
        return {
            ok: false,
            reason: `no readable install record ${recordPath(dir, file)}`,
        };
    }
    if (record.file !== file || typeof record.sha256 !== 'string') {
        return {
            ok: false,
            reason: `install record ${recordPath(dir, file)} is not for ${file}`,
        };
    }
    let actual;
    try {
        actual = await sha256File((0,external_node_path_.join)(dir, file));
    }
    catch {
        return { ok: false, reason: `${(0,external_node_path_.join)(dir, file)} is missing` };
    }
    if (actual !== record.sha256) {
        return {
            ok: false,
            reason: `sha256 of ${(0,external_node_path_.join)(dir, file)} is ${actual}, but ${record.sha256} was installed`,
        };
    }
    return { ok: true, record };
}

// EXTERNAL MODULE: ./node_modules/semver/index.js
var semver = __webpack_require__(2088);
var semver_default = /*#__PURE__*/__webpack_require__.n(semver);
;// CONCATENATED MODULE: ./src/tools/download.ts



/**
 * tool-cache treats anything that is not an exact version as a range and would happily return
 * some other cached version for it, so only exact versions may key the cache.
 */
function requireExactVersion(source) {
    if (!semver_default().valid(semver_default().clean(source.version))) {
        throw new Error(`The ${source.versionInput} input "${source.version}" is not an exact version ` +
            '(expected something like 1.22.1 or v1.15.1).');
    }
}
/** `<base>/<segments...>`; a base URL with trailing slashes is accepted as written. */
function artifactUrl(baseUrl, ...segments) {
    return [baseUrl.replace(/\/+$/, ''), ...segments].join('/');
}
/**
 * A URL fit for logs and errors: a mirror URL may carry credentials (`https://user:token@host/`
 * or a signed query string), which must not reach the job log.
 */
function displayUrl(url) {
    try {
        const parsed = new URL(url);
        if (parsed.username || parsed.password) {
            parsed.username = '***';
            parsed.password = '';
        }
        if (parsed.search)
            parsed.search = '?***';
        return parsed.toString();
    }
    catch {
        return url;
    }
}
/**
 * Downloads through tool-cache (which already retries 5xx, 408 and 429) and turns its bare
 * `Unexpected HTTP response: 404` into a message that says which input to fix.
 */
async function downloadArtifact(url, source) {
    try {
        return await tool_cache/* downloadTool */.bq(url);
    }
    catch (error) {
        throw new Error(describeDownloadFailure(url, source, error));
    }
}
function describeDownloadFailure(rawUrl, source, error) {
    const url = displayUrl(rawUrl);
    const check = `Check the ${source.versionInput} input (is ${source.version} a released version?) and the ` +
        `${source.baseUrlInput} input (does it hold ${source.version}/ like the upstream release page?).`;
    if (error instanceof tool_cache/* HTTPError */.Hl && error.httpStatusCode === 404) {
        return `${source.component} ${source.version} was not found: ${url} answered 404 Not Found. ${check}`;
    }
    const reason = error instanceof tool_cache/* HTTPError */.Hl
        ? `HTTP ${error.httpStatusCode ?? 'error'}`
        : error instanceof Error
            ? error.message
            : String(error);
    return `Could not download ${source.component} ${source.version} from ${url} (${reason}). ${check}`;
}
async function removeQuietly(path) {
    await (0,promises_.rm)(path, { recursive: true, force: true });
}

;// CONCATENATED MODULE: ./src/tools/platform.ts
// Istio publishes istioctl archives per <os>-<arch>; these are the four a GitHub runner can be.
const OS_NAMES = {
    linux: 'linux',
    darwin: 'osx',
};
const ARCH_NAMES = {
    x64: 'amd64',
    arm64: 'arm64',
};
/** The `<os>-<arch>` suffix of Istio's release archives for this machine. */
function istioPlatform(platform = process.platform, arch = process.arch) {
    const os = OS_NAMES[platform];
    const cpu = ARCH_NAMES[arch];
    if (!os || !cpu) {
        throw new Error(`istioctl is not available for platform "${platform}" with architecture "${arch}": ` +
            'Istio publishes linux-amd64, linux-arm64, osx-amd64 and osx-arm64 only. ' +
            'Run this action on a Linux or macOS runner with an x64 or arm64 CPU.');
    }
    return `${os}-${cpu}`;
}

;// CONCATENATED MODULE: ./src/tools/istioctl.ts








const TOOL = 'istioctl';
/**
 * Installs istioctl <version> from `<base>/<version>/istioctl-<version>-<os>-<arch>.tar.gz`,
 * verified against the sibling `.sha256`, and returns the binary's path.
 *
 * Cache hits are verified too. The archive is gone by then, so at install time we record, next
 * to the binary, the archive's verified sha256 (provenance) and the binary's own sha256; a hit
 * re-hashes the binary against that record and re-downloads on any mismatch or missing record.
 * This catches corruption and a swapped binary without a network round trip. It cannot stop
 * someone who can rewrite both files in the tool cache; re-checking against the mirror on every
 * run would, but would make every run depend on the mirror, which a cache exists to avoid.
 */
async function installIstioctl(version, baseUrl) {
    const source = {
        component: TOOL,
        version,
        versionInput: 'istio-version',
        baseUrlInput: 'istioctl-base-url',
    };
    requireExactVersion(source);
    const platform = istioPlatform();
    const cached = tool_cache/* find */.I6(TOOL, version, platform);
    if (cached) {
        const check = await verifyCachedFile(cached, TOOL);
        if (check.ok) {
            core/* info */.pq(`Using cached istioctl ${version} (${platform}), sha256 ${check.record.sha256}`);
            const binary = (0,external_node_path_.join)(cached, TOOL);
            await (0,promises_.chmod)(binary, 0o755);
            return binary;
        }
        core/* warning */.$e(`Cached istioctl ${version} failed verification (${check.reason}); downloading it again.`);
    }
    return downloadAndCache(source, baseUrl, platform);
}
async function downloadAndCache(source, baseUrl, platform) {
    const { version } = source;
    const archiveUrl = artifactUrl(baseUrl, version, `istioctl-${version}-${platform}.tar.gz`);
    const checksumUrl = `${archiveUrl}.sha256`;
    const expected = await fetchExpectedSha256(checksumUrl, source);
    core/* info */.pq(`Downloading istioctl ${version} from ${displayUrl(archiveUrl)}`);
    const archive = await downloadArtifact(archiveUrl, source);
    let extracted;
    try {
        const actual = await sha256File(archive);
        if (actual !== expected) {
            throw new Error(`Checksum mismatch for ${displayUrl(archiveUrl)}: expected sha256 ${expected} ` +
                `(from ${displayUrl(checksumUrl)}), ` +
                `got ${actual}. Nothing was installed. The mirror is serving a different or corrupt ` +
                `file: check the istioctl-base-url input and that istio-version ${version} matches ` +
                'what the mirror holds.');
        }
        core/* debug */.Yz(`istioctl archive sha256 ${actual} matches ${displayUrl(checksumUrl)}`);
        extracted = await tool_cache/* extractTar */.nN(archive);
        const binary = (0,external_node_path_.join)(extracted, TOOL);
        if (!(await isFile(binary))) {
            throw new Error(`${displayUrl(archiveUrl)} has no ${TOOL} at its root, unlike Istio's release archives; ` +
                'check the istioctl-base-url input.');
        }
        // Written before cacheDir so the record exists by the time tool-cache marks the entry complete.
        await writeCacheRecord(extracted, {
            file: TOOL,
            sha256: await sha256File(binary),
            sourceUrl: displayUrl(archiveUrl),
            sourceSha256: actual,
        });
        const dir = await tool_cache/* cacheDir */.e8(extracted, TOOL, version, platform);
        const installed = (0,external_node_path_.join)(dir, TOOL);
        await (0,promises_.chmod)(installed, 0o755);
        core/* info */.pq(`Installed istioctl ${version} (${platform}) at ${installed}`);
        return installed;
    }
    finally {
        await removeQuietly(archive);
        if (extracted)
            await removeQuietly(extracted);
    }
}
async function fetchExpectedSha256(url, source) {
    const file = await downloadArtifact(url, source);
    try {
        return parseSha256File(await (0,promises_.readFile)(file, 'utf8'), displayUrl(url));
    }
    finally {
        await removeQuietly(file);
    }
}
async function isFile(path) {
    try {
        return (await (0,promises_.stat)(path)).isFile();
    }
    catch {
        return false;
    }
}

// EXTERNAL MODULE: ./src/post-state.ts
var post_state = __webpack_require__(8653);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __webpack_require__(8161);
;// CONCATENATED MODULE: ./src/tools/cert-manager.ts








const cert_manager_TOOL = 'cert-manager-manifest';
const FILE = 'cert-manager.yaml';
// The manifest is the same on every CPU; a fixed key stops tool-cache filing it under os.arch().
const ARCH = 'any';
/**
 * The YAML of `<base>/<version>/cert-manager.yaml`, cached per version. Upstream publishes no
 * checksum for it, so its sha256 is logged and recorded to detect later changes to the cached copy.
 */
async function fetchCertManagerManifest(version, baseUrl) {
    const source = {
        component: 'cert-manager manifest',
        version,
        versionInput: 'cert-manager-version',
        baseUrlInput: 'cert-manager-base-url',
    };
    requireExactVersion(source);
    const cached = tool_cache/* find */.I6(cert_manager_TOOL, version, ARCH);
    if (cached) {
        const check = await verifyCachedFile(cached, FILE);
        if (check.ok) {
            core/* info */.pq(`Using cached cert-manager ${version} manifest, sha256 ${check.record.sha256}`);
            return (0,promises_.readFile)((0,external_node_path_.join)(cached, FILE), 'utf8');
        }
        core/* warning */.$e(`Cached cert-manager ${version} manifest failed verification (${check.reason}); downloading it again.`);
    }
    const url = artifactUrl(baseUrl, version, FILE);
    core/* info */.pq(`Downloading cert-manager ${version} manifest from ${displayUrl(url)}`);
    const downloaded = await downloadArtifact(url, source);
    let staging;
    try {
        const text = await (0,promises_.readFile)(downloaded, 'utf8');
        if (!/^kind:\s*\S/m.test(text)) {
            throw new Error(`${displayUrl(url)} does not look like a Kubernetes manifest (no "kind:" line); ` +
                'check the cert-manager-base-url input.');
        }
        const digest = sha256Text(text);
        core/* debug */.Yz(`cert-manager ${version} manifest sha256 ${digest} (upstream publishes no checksum)`);
        staging = await (0,promises_.mkdtemp)((0,external_node_path_.join)(process.env['RUNNER_TEMP'] || (0,external_node_os_.tmpdir)(), 'cert-manager-'));
        await (0,promises_.writeFile)((0,external_node_path_.join)(staging, FILE), text);
        await writeCacheRecord(staging, {
            file: FILE,
            sha256: digest,
            sourceUrl: displayUrl(url),
            sourceSha256: digest,
        });
        await tool_cache/* cacheDir */.e8(staging, cert_manager_TOOL, version, ARCH);
        return text;
    }
    finally {
        await removeQuietly(downloaded);
        if (staging)
            await removeQuietly(staging);
    }
}

// EXTERNAL MODULE: ./src/render/index.ts + 10 modules
var render = __webpack_require__(8245);
// EXTERNAL MODULE: ./node_modules/yaml/dist/index.js
var yaml_dist = __webpack_require__(8815);
;// CONCATENATED MODULE: ./src/yaml-docs.ts
// Multi-document YAML (release manifests, istioctl output) -> objects, skipping
// empty documents and `List` wrappers' nesting.

function parseObjects(text, source) {
    const out = [];
    for (const doc of yaml_dist.parseAllDocuments(text)) {
        if (doc.errors.length > 0)
            throw new Error(`${source}: invalid YAML: ${doc.errors[0]?.message}`);
        const value = doc.toJS();
        if (value === null || typeof value !== 'object')
            continue;
        const object = value;
        if (object.kind?.endsWith('List') && Array.isArray(object.items))
            out.push(...object.items);
        else if (object.kind && object.apiVersion && object.metadata?.name)
            out.push(object);
    }
    return out;
}

;// CONCATENATED MODULE: ./src/cluster/apply.ts
const ORDER = [
    'CustomResourceDefinition',
    'Namespace',
    'ServiceAccount',
    'ClusterRole',
    'Role',
    'ClusterRoleBinding',
    'RoleBinding',
    'ConfigMap',
    'Secret',
    'CSIDriver',
    'Service',
];
const WORKLOAD_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet', 'Job']);
const WEBHOOK_KINDS = new Set(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
function step(o) {
    const i = ORDER.indexOf(o.kind);
    if (i >= 0)
        return i;
    if (WORKLOAD_KINDS.has(o.kind))
        return ORDER.length;
    // Webhooks after the workloads that serve them; custom resources last.
    if (WEBHOOK_KINDS.has(o.kind))
        return ORDER.length + 1;
    return o.apiVersion.includes('.') && !o.apiVersion.startsWith('apps/')
        ? ORDER.length + 3
        : ORDER.length + 2;
}
async function mapLimit(items, limit, fn) {
    const results = new Array(items.length);
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            const i = next++;
            results[i] = await fn(items[i]);
        }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return results;
}
function established(o) {
    const conditions = o.status?.conditions ?? [];
    return conditions.some((c) => c.type === 'Established' && c.status === 'True');
}
async function applyInOrder(client, objects) {
    const groups = new Map();
    for (const o of objects)
        groups.set(step(o), [...(groups.get(step(o)) ?? []), o]);
    const records = [];
    for (const key of [...groups.keys()].sort((a, b) => a - b)) {
        const group = groups.get(key) ?? [];
        records.push(...(await mapLimit(group, 6, (o) => client.applyOne(o))));
        if (group[0]?.kind === 'CustomResourceDefinition')
            await mapLimit(group, 6, (crd) => client.waitFor(crd, established, () => 'the CRD is not Established yet'));
    }
    return records;
}

;// CONCATENATED MODULE: ./src/verify/check.ts
// The one result shape every analyzer returns, so the report can render any of
// them in the same table and the `result` output can carry them as JSON.
const passed = (name, cluster, reason, details) => ({ name, cluster, ok: true, reason, ...(details ? { details } : {}) });
const failed = (name, cluster, reason, details) => ({ name, cluster, ok: false, reason, ...(details ? { details } : {}) });
/** An empty list proves nothing, so it is not a pass. */
const allPassed = (checks) => checks.length > 0 && checks.every((c) => c.ok);
/** Cuts long upstream messages (events, curl errors) so the summary stays compact. */
const truncate = (text, max = 200) => text.length <= max ? text : `${text.slice(0, max - 1)}…`;

;// CONCATENATED MODULE: ./src/verify/readiness.ts
// Readiness of the workloads the action installed, judged from the objects as the
// API returns them (raw JSON or @kubernetes/client-node models: the field names
// are the same, timestamps may be strings or Dates). When a workload is not
// ready, the check carries the evidence a human needs next: which pods fail and
// why, and the latest events about them.

const MAX_PODS = 10;
const MAX_EVENTS = 5;
const n = (value) => value ?? 0;
/**
 * Whether a rollout is complete, with the same rules as `kubectl rollout status`
 * (observed generation, updated, available / ready counts), so the phase code
 * can use it as the condition of a watch too.
 */
function rolloutState(kind, obj) {
    const status = obj.status;
    if (!status)
        return { done: false, reason: 'no status yet', desired: 0, ready: 0 };
    const daemon = kind === 'DaemonSet';
    const desired = daemon ? n(status.desiredNumberScheduled) : (obj.spec?.replicas ?? 1);
    const ready = daemon ? n(status.numberReady) : n(status.readyReplicas);
    const state = (done, reason) => ({ done, reason, desired, ready });
    const generation = obj.metadata?.generation;
    if (generation !== undefined &&
        status.observedGeneration !== undefined &&
        status.observedGeneration < generation) {
        return state(false, 'controller has not seen the latest spec');
    }
    if (daemon) {
        if (desired === 0)
            return state(false, 'scheduled on no node (0 desired)');
        const updated = n(status.updatedNumberScheduled);
        if (updated < desired)
            return state(false, `${updated}/${desired} pods updated`);
        const done = ready >= desired && n(status.numberAvailable) >= desired;
        return state(done, `${ready}/${desired} pods ready`);
    }
    if (kind === 'Deployment') {
        const progressing = status.conditions?.find((c) => c.type === 'Progressing');
        if (progressing?.reason === 'ProgressDeadlineExceeded') {
            return state(false, `progress deadline exceeded, ${ready}/${desired} ready`);
        }
        const updated = n(status.updatedReplicas);
        if (updated < desired)
            return state(false, `${updated}/${desired} replicas updated`);
        const old = n(status.replicas) - updated;
        if (old > 0)
            return state(false, `${old} old replica(s) still terminating`);
        const done = n(status.availableReplicas) >= updated && ready >= desired;
        return state(done, `${ready}/${desired} replicas ready`);
    }
    // StatefulSet: with a partition, only some replicas are meant to update.
    if (ready < desired)
        return state(false, `${ready}/${desired} replicas ready`);
    const rolling = (obj.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
    const partition = obj.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
    if (rolling && partition === 0 && status.updatedReplicas !== undefined) {
        if (status.updatedReplicas < desired) {
            return state(false, `${status.updatedReplicas}/${desired} replicas updated`);
        }
        if (status.updateRevision && status.currentRevision !== status.updateRevision) {
            return state(false, 'rolling update still in progress');
        }
    }
    return state(true, `${ready}/${desired} replicas ready`);
}
function selectorMatches(selector, labels = {}) {
    // An empty or missing selector would match every pod in the namespace; for a
    // workload that is a misconfiguration, so it matches none.
    if (!selector || (!selector.matchLabels && !selector.matchExpressions?.length))
        return false;
    for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
        if (labels[key] !== value)
            return false;
    }
    for (const expr of selector.matchExpressions ?? []) {
        const has = Object.hasOwn(labels, expr.key);
        const value = labels[expr.key];
        const values = expr.values ?? [];
        switch (expr.operator) {
            case 'In':
                if (!has || !values.includes(value))
                    return false;
                break;
            case 'NotIn':
                if (has && values.includes(value))
                    return false;
                break;
            case 'Exists':
                if (!has)
                    return false;
                break;
            case 'DoesNotExist':
                if (has)
                    return false;
                break;
            default:
                return false;
        }
    }
    return true;
}
function describeState(container, state, init) {
    const where = init ? `init container ${container}` : container;
    if (state?.waiting) {
        const reason = state.waiting.reason ?? 'Waiting';
        return state.waiting.message
            ? `${where}: ${reason}: ${truncate(state.waiting.message)}`
            : `${where}: ${reason}`;
    }
    if (state?.terminated) {
        const { reason = 'Terminated', exitCode } = state.terminated;
        // A plain init container that exited 0 did its job.
        if (init && exitCode === 0)
            return undefined;
        return `${where}: ${reason} (exit code ${exitCode ?? '?'})`;
    }
    return undefined;
}
function isPodReady(pod) {
    return (pod.status?.phase === 'Running' &&
        !pod.metadata?.deletionTimestamp &&
        pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true);
}
/** Why a pod is not ready, most telling first; empty for a ready pod. */
function podReport(pod) {
    const status = pod.status ?? {};
    const reasons = [];
    const name = pod.metadata?.name ?? '?';
    const phase = status.phase ?? 'Unknown';
    const containers = [
        ...(status.initContainerStatuses ?? []).map((s) => ({ s, init: true })),
        ...(status.containerStatuses ?? []).map((s) => ({ s, init: false })),
    ];
    const restarts = containers.reduce((sum, { s }) => sum + n(s.restartCount), 0);
    if (isPodReady(pod))
        return { name, phase, restarts, reasons };
    if (pod.metadata?.deletionTimestamp)
        reasons.push('terminating');
    if (status.reason) {
        reasons.push(status.message ? `${status.reason}: ${truncate(status.message)}` : status.reason);
    }
    const scheduled = status.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False') {
        reasons.push(`${scheduled.reason ?? 'Unschedulable'}: ${truncate(scheduled.message ?? '')}`.replace(/: $/, ''));
    }
    for (const { s, init } of containers) {
        const now = describeState(s.name ?? '?', s.state, init);
        if (now)
            reasons.push(now);
        else if (s.state?.running && s.ready === false) {
            reasons.push(`${init ? `init container ${s.name}` : s.name}: running but not ready`);
        }
        if (n(s.restartCount) > 0) {
            const last = s.lastState?.terminated;
            const lastWhy = last
                ? ` (last: ${last.reason ?? 'terminated'}, exit code ${last.exitCode ?? '?'})`
                : '';
            reasons.push(`${s.name ?? '?'}: restarted ${s.restartCount} time(s)${lastWhy}`);
        }
    }
    if (reasons.length === 0) {
        const ready = status.conditions?.find((c) => c.type === 'Ready');
        reasons.push(ready?.reason
            ? `not ready: ${ready.reason}${ready.message ? `: ${truncate(ready.message)}` : ''}`
            : `phase ${phase}`);
    }
    return { name, phase, restarts, reasons };
}
const timeOf = (e) => {
    const t = e.series?.lastObservedTime ??
        e.lastTimestamp ??
        e.eventTime ??
        e.firstTimestamp ??
        e.metadata?.creationTimestamp;
    if (!t)
        return undefined;
    return t instanceof Date ? t.toISOString() : t;
};
const readiness_escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Names that the controllers derive from a workload's name, for events about objects already gone. */
function ownedNamePatterns(kind, name) {
    const base = readiness_escape(name);
    switch (kind) {
        case 'Deployment':
            return [
                { kind: 'ReplicaSet', pattern: new RegExp(`^${base}-[a-z0-9]{1,10}$`) },
                { kind: 'Pod', pattern: new RegExp(`^${base}-[a-z0-9]{1,10}-[a-z0-9]{5}$`) },
            ];
        case 'DaemonSet':
            return [{ kind: 'Pod', pattern: new RegExp(`^${base}-[a-z0-9]{5}$`) }];
        case 'StatefulSet':
            return [{ kind: 'Pod', pattern: new RegExp(`^${base}-\\d+$`) }];
    }
}
/** Latest events about the workload, its ReplicaSets and its pods; warnings first. */
function eventsFor(ref, podNames, events, max = MAX_EVENTS) {
    const patterns = ownedNamePatterns(ref.kind, ref.name);
    const relevant = events.filter((e) => {
        const o = e.involvedObject;
        if (!o?.name || (o.namespace ?? e.metadata?.namespace) !== ref.namespace)
            return false;
        if (o.kind === ref.kind && o.name === ref.name)
            return true;
        if (o.kind === 'Pod' && podNames.has(o.name))
            return true;
        return patterns.some((p) => p.kind === o.kind && p.pattern.test(o.name));
    });
    const warning = (e) => (e.type === 'Warning' ? 0 : 1);
    return relevant
        .toSorted((a, b) => warning(a) - warning(b) || (timeOf(b) ?? '').localeCompare(timeOf(a) ?? ''))
        .slice(0, max)
        .map((e) => {
        const time = timeOf(e);
        return {
            type: e.type ?? 'Normal',
            reason: e.reason ?? '',
            object: `${e.involvedObject?.kind ?? '?'}/${e.involvedObject?.name ?? '?'}`,
            message: truncate(e.message ?? ''),
            count: e.series?.count ?? e.count ?? 1,
            ...(time ? { time } : {}),
        };
    });
}
function checkWorkload(cluster, kind, obj, pods, events) {
    const ref = {
        kind,
        namespace: obj.metadata?.namespace ?? '',
        name: obj.metadata?.name ?? '?',
    };
    const name = `${kind} ${ref.namespace}/${ref.name}`;
    const state = rolloutState(kind, obj);
    const own = pods.filter((p) => p.metadata?.namespace === ref.namespace &&
        selectorMatches(obj.spec?.selector, p.metadata?.labels));
    const base = {
        kind,
        namespace: ref.namespace,
        name: ref.name,
        desired: state.desired,
        ready: state.ready,
    };
    if (state.done)
        return passed(name, cluster, state.reason, base);
    const failing = own.map(podReport).filter((p) => p.reasons.length > 0);
    const latest = eventsFor(ref, new Set(own.map((p) => p.metadata?.name ?? '')), events);
    const first = failing[0];
    const firstWarning = latest.find((e) => e.type === 'Warning');
    let why = state.reason;
    if (first)
        why += `; ${first.name}: ${first.reasons[0]}`;
    else if (firstWarning)
        why += `; ${firstWarning.object}: ${firstWarning.reason}: ${firstWarning.message}`;
    else if (own.length === 0 && state.desired > 0)
        why += '; no pods exist';
    return failed(name, cluster, why, {
        ...base,
        pods: failing.slice(0, MAX_PODS),
        ...(failing.length > MAX_PODS ? { morePods: failing.length - MAX_PODS } : {}),
        events: latest,
    });
}
/** One check per workload (and per expected workload that does not exist). */
function analyzeReadiness(evidence) {
    const { cluster, pods, events } = evidence;
    const groups = [
        ['Deployment', evidence.deployments ?? []],
        ['DaemonSet', evidence.daemonSets ?? []],
        ['StatefulSet', evidence.statefulSets ?? []],
    ];
    const checks = [];
    const seen = new Set();
    for (const [kind, objects] of groups) {
        for (const obj of objects) {
            seen.add(`${kind}/${obj.metadata?.namespace}/${obj.metadata?.name}`);
            checks.push(checkWorkload(cluster, kind, obj, pods, events));
        }
    }
    for (const ref of evidence.expected ?? []) {
        if (seen.has(`${ref.kind}/${ref.namespace}/${ref.name}`))
            continue;
        checks.push(failed(`${ref.kind} ${ref.namespace}/${ref.name}`, cluster, `${ref.kind} not found`, {
            ...ref,
            events: eventsFor(ref, new Set(), events),
        }));
    }
    return checks;
}

;// CONCATENATED MODULE: ./src/cluster/rollout.ts

const ROLLOUT_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);
/** Returns null when rolled out, else what is missing. */
function rolloutGap(o) {
    const state = rolloutState(o.kind, o);
    return state.done ? null : state.reason;
}
async function waitForRollouts(client, objects) {
    const workloads = objects.filter((o) => ROLLOUT_KINDS.has(o.kind));
    await Promise.all(workloads.map((w) => client.waitFor(w, (o) => rolloutGap({ ...o, kind: w.kind }) === null, (o) => (o ? (rolloutGap({ ...o, kind: w.kind }) ?? 'ready') : 'it does not exist'))));
}

// EXTERNAL MODULE: ./src/names.ts
var names = __webpack_require__(6455);
;// CONCATENATED MODULE: ./src/phases/per-cluster.ts
// Runs one step on every cluster at once. Each cluster's log lines are held
// back and printed as one collapsible group when it finishes, so concurrent
// clusters never interleave in the job log.


async function onEachCluster(title, clients, step) {
    return Promise.all(clients.map(async (client) => {
        const lines = [];
        const log = (line) => lines.push(line);
        const started = Date.now();
        const outcome = {
            cluster: client.cluster.context,
            ok: true,
            durationMs: 0,
            records: [],
            notes: [],
        };
        try {
            const out = (await step(client, log)) ?? {};
            outcome.records = out.records ?? [];
            outcome.notes = out.notes ?? [];
        }
        catch (error) {
            outcome.ok = false;
            outcome.error = (0,errors/* describeError */.Uc)(error);
            lines.push(`failed: ${outcome.error}`);
        }
        outcome.durationMs = Date.now() - started;
        const counts = countActions(outcome.records);
        core/* startGroup */.Oh(`${title} · ${client.cluster.context} · ${outcome.ok ? 'ok' : 'FAILED'} (${counts})`);
        for (const line of lines)
            core/* info */.pq(line);
        for (const r of outcome.records)
            if (r.action !== 'unchanged')
                core/* info */.pq(`${r.action.padEnd(9)} ${r.ref}`);
        core/* endGroup */.N4();
        return outcome;
    }));
}
function countActions(records) {
    const n = (a) => records.filter((r) => r.action === a).length;
    const deleted = n('deleted');
    return `${n('created')} created, ${n('changed')} changed, ${n('unchanged')} unchanged${deleted ? `, ${deleted} deleted` : ''}`;
}
/** A dependent step must not start on a half-done phase. */
const anyFailed = (outcomes) => outcomes.some((o) => !o.ok);

;// CONCATENATED MODULE: ./src/phases/cert-manager.ts
// Seed: cert-manager/install-cert-manager.sh. Installs cert-manager from its
// release manifest, waits until its webhook answers, then creates the mesh's
// root CA, the CA issuer SPIRE signs with, and istiod's `cacerts`.







/** An object only the webhook can admit; created with dryRun so nothing is stored. */
const PROBE_ISSUER = {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Issuer',
    metadata: { name: 'mesh-federation-webhook-probe', namespace: names/* CERT_MANAGER_NAMESPACE */.xJ },
    spec: { selfSigned: {} },
};
/**
 * `helm --wait` is not enough: the webhook can refuse calls for a while after
 * its pod is Ready. A refused call is a 500 from the API server, which the
 * client retries with backoff until the timeout.
 */
async function waitForWebhook(client) {
    const started = Date.now();
    await client.retry('call the cert-manager webhook (dry-run Issuer)', () => client.dryRunCreate(PROBE_ISSUER));
    return Date.now() - started;
}
function certificateReady(o) {
    const conditions = o.status?.conditions ?? [];
    return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}
async function runCertManager(ctx) {
    const { config } = ctx;
    const release = parseObjects(await fetchCertManagerManifest(config.versions.certManager, config.certManagerBaseUrl), `cert-manager ${config.versions.certManager} release manifest`).map((o) => (0,render/* labelObject */.so)(o, 'cert-manager'));
    return onEachCluster('cert-manager', ctx.clients, async (client, log) => {
        const rendered = (0,render/* renderPhase */.qq)(config, 'cert-manager', client.cluster, ctx.facts);
        ctx.writeManifest(client.cluster.context, 'cert-manager', (0,render/* toYaml */.fE)([...release, ...rendered.objects]));
        const records = await applyInOrder(client, release);
        log(`applied cert-manager ${config.versions.certManager} (${release.length} objects)`);
        await waitForRollouts(client, release);
        log(`cert-manager deployments are ready`);
        const webhookMs = await waitForWebhook(client);
        log(`the cert-manager webhook answers (after ${webhookMs} ms)`);
        records.push(...(await applyInOrder(client, rendered.objects)));
        const certificates = rendered.objects.filter((o) => o.kind === 'Certificate');
        await Promise.all(certificates.map((c) => client.waitFor(c, certificateReady, (o) => {
            const conditions = o?.status?.conditions;
            return conditions?.find((x) => x.type === 'Ready')?.message ?? 'not issued yet';
        })));
        log(`certificates issued: ${certificates.map((c) => `${c.metadata.namespace}/${c.metadata.name}`).join(', ')}`);
        return {
            records,
            notes: [
                `cert-manager ${config.versions.certManager}; webhook answered after ${webhookMs} ms`,
            ],
        };
    });
}

;// CONCATENATED MODULE: ./src/verify/x509.ts
// Small helpers over Node's X509Certificate (OpenSSL underneath), shared by the
// chain and federation analyzers. Parsing is strict: a malformed certificate
// throws, because a bundle we cannot read must never count as a good one.

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
/** Every certificate in a PEM text, in order; other PEM blocks (keys) are ignored. */
function parsePemCertificates(pem) {
    return (pem.match(PEM_BLOCK) ?? []).map((block) => new external_node_crypto_.X509Certificate(block));
}
/** A certificate from base64 DER, as JWKS `x5c` entries carry it. */
const certificateFromBase64Der = (der) => new external_node_crypto_.X509Certificate(Buffer.from(der, 'base64'));
/** base64 (as protobuf JSON encodes `bytes`) to text. */
const decodeBase64 = (value) => Buffer.from(value, 'base64').toString('utf8');
/** `child` names `parent` as issuer and `parent`'s key verifies `child`'s signature. */
const isSignedBy = (child, parent) => child.checkIssued(parent) && child.verify(parent.publicKey);
const isSelfSigned = (cert) => isSignedBy(cert, cert);
const CURVE_NAMES = {
    prime256v1: 'P-256',
    secp256r1: 'P-256',
    secp384r1: 'P-384',
    secp521r1: 'P-521',
};
/** "EC P-256", "RSA 2048", "Ed25519": what the summary table shows. */
function keyDescription(cert) {
    const key = cert.publicKey;
    const details = key.asymmetricKeyDetails ?? {};
    switch (key.asymmetricKeyType) {
        case 'ec': {
            const curve = details.namedCurve ?? 'unknown curve';
            return `EC ${CURVE_NAMES[curve] ?? curve}`;
        }
        case 'rsa':
            return `RSA ${details.modulusLength ?? '?'}`;
        case 'rsa-pss':
            return `RSA-PSS ${details.modulusLength ?? '?'}`;
        case 'ed25519':
            return 'Ed25519';
        case 'ed448':
            return 'Ed448';
        default:
            return key.asymmetricKeyType ?? 'unknown';
    }
}
/**
 * Splits Node's `subjectAltName` string ("URI:spiffe://a/b, DNS:x"). Node
 * JSON-quotes a value that holds a comma or quote, so split outside quotes only.
 */
function subjectAltNames(cert) {
    const text = cert.subjectAltName;
    if (!text)
        return [];
    const parts = [];
    let current = '';
    let quoted = false;
    for (let i = 0; i < text.length; i++) {
        const ch = text[i];
        if (ch === '"' && text[i - 1] !== '\\')
            quoted = !quoted;
        if (!quoted && ch === ',' && text[i + 1] === ' ') {
            parts.push(current);
            current = '';
            i++;
            continue;
        }
        current += ch;
    }
    if (current)
        parts.push(current);
    return parts.map((part) => {
        const colon = part.indexOf(':');
        const type = part.slice(0, colon);
        let value = part.slice(colon + 1);
        if (value.startsWith('"')) {
            try {
                value = JSON.parse(value);
            }
            catch {
                // keep the raw text: a SAN we cannot unquote still must not match by accident
            }
        }
        return { type, value };
    });
}
const spiffeUris = (cert) => subjectAltNames(cert)
    .filter((san) => san.type === 'URI' && san.value.toLowerCase().startsWith('spiffe://'))
    .map((san) => san.value);
function parseSpiffeId(id) {
    const match = /^spiffe:\/\/([^/]+)(\/.*)?$/i.exec(id.trim());
    if (!match)
        return undefined;
    return { trustDomain: match[1].toLowerCase(), path: match[2] ?? '' };
}
/** "bar.com", "spiffe://bar.com" and "spiffe://bar.com/" all name the same trust domain. */
const normalizeTrustDomain = (value) => value
    .trim()
    .replace(/^spiffe:\/\//i, '')
    .replace(/\/+$/, '')
    .toLowerCase();
const workloadSpiffeId = (trustDomain, namespace, sa) => `spiffe://${normalizeTrustDomain(trustDomain)}/ns/${namespace}/sa/${sa}`;
/** One-line subject for messages: Node separates RDNs with newlines. */
const oneLine = (dn) => dn.split('\n').filter(Boolean).join(', ');

;// CONCATENATED MODULE: ./src/verify/federation.ts
// SPIRE federation: every server must hold every other trust domain's bundle,
// and that copy must carry the same X.509 roots the other domain's own server
// shows (else workloads fail mTLS across clusters after a CA rotation).
//
// Reads `spire-server bundle show -format spiffe` (a JWKS document whose
// "x509-svid" keys carry the root in `x5c`) and `bundle list -format spiffe`
// (each bundle preceded by a banner of asterisks naming its trust domain),
// as printed by cmd/spire-server/cli/bundle/common.go. PEM (the default
// `-format pem`) is read too, since the same banners frame it.


class BundleOutputError extends Error {
    name = 'BundleOutputError';
}
const describeRoot = (cert) => ({
    fingerprint256: cert.fingerprint256,
    subject: oneLine(cert.subject),
    notAfter: cert.validToDate.toISOString(),
});
function fromCertificates(certificates, trustDomain) {
    return {
        ...(trustDomain ? { trustDomain } : {}),
        roots: certificates.map(describeRoot),
        certificates,
        jwtKeys: 0,
    };
}
/** One bundle, JWKS (`-format spiffe`) or PEM; throws BundleOutputError. */
function parseBundle(text, trustDomain) {
    const trimmed = text.trim();
    const td = trustDomain ? normalizeTrustDomain(trustDomain) : undefined;
    if (!trimmed.startsWith('{')) {
        if (!trimmed.includes('-----BEGIN CERTIFICATE-----')) {
            throw new BundleOutputError(`neither a SPIFFE bundle (JWKS) nor PEM: ${trimmed.slice(0, 80)}`);
        }
        try {
            return fromCertificates(parsePemCertificates(trimmed), td);
        }
        catch (err) {
            throw new BundleOutputError(`bad certificate in PEM bundle: ${err.message}`);
        }
    }
    let doc;
    try {
        doc = JSON.parse(trimmed);
    }
    catch (err) {
        throw new BundleOutputError(`SPIFFE bundle does not parse as JSON: ${err.message}`);
    }
    if (!Array.isArray(doc.keys))
        throw new BundleOutputError('SPIFFE bundle has no "keys" list');
    const certificates = [];
    let jwtKeys = 0;
    for (const key of doc.keys) {
        if (key.use === 'jwt-svid')
            jwtKeys++;
        if (key.use !== 'x509-svid')
            continue;
        const der = key.x5c?.[0];
        if (!der)
            throw new BundleOutputError('x509-svid key without an x5c certificate');
        try {
            certificates.push(certificateFromBase64Der(der));
        }
        catch (err) {
            throw new BundleOutputError(`bad x5c certificate: ${err.message}`);
        }
    }
    return {
        ...fromCertificates(certificates, td),
        jwtKeys,
        ...(doc.spiffe_sequence !== undefined ? { sequence: doc.spiffe_sequence } : {}),
        ...(doc.spiffe_refresh_hint !== undefined ? { refreshHint: doc.spiffe_refresh_hint } : {}),
    };
}
const BANNER = /^\*{10,}\r?\n\* (.+?)\r?\n\*{10,}\r?$/gm;
/** `bundle list` output to bundles by trust domain name; empty output means no federated bundles. */
function parseBundleList(text) {
    const bundles = new Map();
    const headers = [...text.matchAll(BANNER)];
    const before = text.slice(0, headers[0]?.index ?? text.length).trim();
    if (before)
        throw new BundleOutputError(`unexpected text before the first bundle: ${before.slice(0, 80)}`);
    headers.forEach((header, i) => {
        const td = normalizeTrustDomain(header[1]);
        const start = (header.index ?? 0) + header[0].length;
        const end = headers[i + 1]?.index ?? text.length;
        bundles.set(td, parseBundle(text.slice(start, end), td));
    });
    return bundles;
}
const fingerprints = (b) => new Set(b.roots.map((r) => r.fingerprint256));
function attempt(fn) {
    try {
        return { ok: true, value: fn() };
    }
    catch (err) {
        return { ok: false, error: err.message };
    }
}
/** One check per server's own bundle and one per (server, other trust domain). */
function analyzeFederation(servers) {
    const parsed = servers.map((s) => ({
        ...s,
        td: normalizeTrustDomain(s.trustDomain),
        own: attempt(() => parseBundle(s.bundleShow, s.trustDomain)),
        list: attempt(() => parseBundleList(s.bundleList)),
    }));
    const checks = [];
    for (const server of parsed) {
        const ownName = `own bundle ${server.td}`;
        if (!server.own.ok) {
            checks.push(failed(ownName, server.cluster, `cannot read bundle show output: ${server.own.error}`));
        }
        else if (server.own.value.roots.length === 0) {
            checks.push(failed(ownName, server.cluster, `${server.td}'s own bundle holds no X.509 root`));
        }
        else {
            const own = server.own.value;
            checks.push(passed(ownName, server.cluster, `${own.roots.length} X.509 root(s)`, {
                roots: own.roots,
                ...(own.sequence !== undefined ? { sequence: own.sequence } : {}),
            }));
        }
        for (const other of parsed) {
            if (other.td === server.td)
                continue;
            const name = `federated bundle ${other.td} on ${server.td}`;
            if (!server.list.ok) {
                checks.push(failed(name, server.cluster, `cannot read bundle list output: ${server.list.error}`));
                continue;
            }
            const copy = server.list.value.get(other.td);
            if (!copy) {
                checks.push(failed(name, server.cluster, `missing bundle: ${server.td}'s server holds no bundle for ${other.td}`, {
                    held: [...server.list.value.keys()],
                }));
                continue;
            }
            if (!other.own.ok) {
                checks.push(failed(name, server.cluster, `cannot compare: ${other.td}'s own bundle is unreadable (${other.own.error})`));
                continue;
            }
            const want = fingerprints(other.own.value);
            const have = fingerprints(copy);
            const lacking = other.own.value.roots.filter((r) => !have.has(r.fingerprint256));
            const extra = copy.roots.filter((r) => !want.has(r.fingerprint256));
            const details = { expected: other.own.value.roots, held: copy.roots };
            if (lacking.length > 0) {
                checks.push(failed(name, server.cluster, `stale bundle for ${other.td}: lacks ${lacking.length} root(s) that ${other.td}'s server holds (${lacking
                    .map((r) => r.subject)
                    .join('; ')})`, details));
            }
            else if (extra.length > 0) {
                checks.push(failed(name, server.cluster, `different bundle for ${other.td}: holds ${extra.length} root(s) that ${other.td}'s server does not (${extra
                    .map((r) => r.subject)
                    .join('; ')})`, details));
            }
            else if (want.size === 0) {
                checks.push(failed(name, server.cluster, `${other.td}'s bundle holds no X.509 root to trust`, details));
            }
            else {
                checks.push(passed(name, server.cluster, `holds ${other.td}'s bundle, same ${want.size} root(s) as its server`, details));
            }
        }
    }
    return checks;
}

;// CONCATENATED MODULE: ./src/phases/merge.ts
/** Folds the outcomes of several steps of one phase into one outcome per cluster. */
function mergeOutcomes(steps) {
    const byCluster = new Map();
    for (const outcomes of steps)
        for (const o of outcomes) {
            const seen = byCluster.get(o.cluster);
            if (!seen) {
                byCluster.set(o.cluster, { ...o, records: [...o.records], notes: [...o.notes] });
                continue;
            }
            seen.ok &&= o.ok;
            seen.durationMs += o.durationMs;
            seen.records.push(...o.records);
            seen.notes.push(...o.notes);
            if (o.error)
                seen.error = seen.error ? `${seen.error}; ${o.error}` : o.error;
        }
    return [...byCluster.values()];
}

;// CONCATENATED MODULE: ./src/phases/spire.ts
// Seed: spire/install-spire.sh. Exposes each SPIRE server first, so every
// cluster's federation config can name the others' bundle endpoints; then
// installs servers and agents, waits for them, and exchanges trust bundles
// (`bundle show` on each server, `bundle set` on every other) by exec.








const serviceHeader = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: names/* SPIRE_SERVER */.s_.service, namespace: names/* SPIRE_NAMESPACE */.ER },
};
function ingressHost(o) {
    const ingress = o.status?.loadBalancer?.ingress?.[0];
    return ingress?.ip || ingress?.hostname || undefined;
}
function hostPort(host, port) {
    return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
/** The address other clusters use to reach this cluster's bundle endpoint. */
async function discoverBundleEndpoint(client, serviceType) {
    if (serviceType === 'LoadBalancer') {
        const service = await client.waitFor(serviceHeader, (o) => Boolean(ingressHost(o)), () => 'the LoadBalancer has no ingress address yet (does the cluster have a load balancer? use service-type: NodePort for local clusters)');
        return hostPort(ingressHost(service), names/* SPIRE_SERVER */.s_.bundlePort);
    }
    const service = await client.waitFor(serviceHeader, (o) => Boolean(nodePort(o)), () => 'no node port assigned yet');
    const nodes = await client.list('v1', 'Node');
    const addresses = nodes.flatMap((n) => n.status?.addresses ?? []);
    const address = addresses.find((a) => a.type === 'ExternalIP')?.address ??
        addresses.find((a) => a.type === 'InternalIP')?.address;
    if (!address)
        throw new errors/* ClusterError */.b$(client.cluster.context, 'no node has an ExternalIP or InternalIP address for the NodePort bundle endpoint.');
    return hostPort(address, nodePort(service));
}
function nodePort(o) {
    return o.spec?.ports?.find((p) => p.port === names/* SPIRE_SERVER */.s_.bundlePort)
        ?.nodePort;
}
function spireServerCli(client, args, stdin) {
    return client.exec(names/* SPIRE_NAMESPACE */.ER, names/* SPIRE_SERVER */.s_.pod, names/* SPIRE_SERVER */.s_.container, [names/* SPIRE_SERVER */.s_.binary, ...args, '-socketPath', names/* SPIRE_SERVER */.s_.socket], stdin === undefined ? {} : { stdin });
}
/** `bundle show -format spiffe` of the cluster's own server, retried while the server starts. */
async function showOwnBundle(client) {
    return client.retry('read its SPIRE trust bundle (bundle show)', async () => {
        const result = await spireServerCli(client, ['bundle', 'show', '-format', 'spiffe']);
        if (result.exitCode !== 0) {
            // The server may still be starting behind a Ready pod; 503 makes the client retry.
            throw Object.assign(new Error(`bundle show failed: ${result.stderr.trim() || result.stdout.trim()}`), { code: 503 });
        }
        return result.stdout;
    });
}
/** The bundle this cluster's server holds for `trustDomain`, or null when it has none. */
async function heldBundle(client, trustDomain) {
    const result = await spireServerCli(client, [
        'bundle',
        'list',
        '-id',
        `spiffe://${trustDomain}`,
        '-format',
        'spiffe',
    ]);
    return result.exitCode === 0 && result.stdout.trim() !== '' ? result.stdout : null;
}
function rootFingerprints(bundle) {
    try {
        return parseBundle(bundle)
            .roots.map((r) => r.fingerprint256)
            .sort();
    }
    catch {
        return [];
    }
}
function sameRoots(a, b) {
    const left = rootFingerprints(a);
    const right = rootFingerprints(b);
    return left.length > 0 && left.join() === right.join();
}
async function exchangeBundles(ctx) {
    const own = new Map();
    const shown = await onEachCluster('spire · bundle show', ctx.clients, async (client, log) => {
        own.set(client.cluster.trustDomain, await showOwnBundle(client));
        log(`read the ${client.cluster.trustDomain} trust bundle`);
    });
    if (anyFailed(shown))
        return shown;
    const set = await onEachCluster('spire · bundle set', ctx.clients, async (client, log) => {
        const records = [];
        for (const other of ctx.config.clusters.filter((c) => c.index !== client.cluster.index)) {
            const bundle = own.get(other.trustDomain);
            const ref = `SPIFFE bundle/spiffe://${other.trustDomain}`;
            const held = await heldBundle(client, other.trustDomain);
            if (held !== null && sameRoots(held, bundle)) {
                records.push({ ref, action: 'unchanged' });
                continue;
            }
            const result = await spireServerCli(client, ['bundle', 'set', '-id', `spiffe://${other.trustDomain}`, '-format', 'spiffe'], bundle);
            if (result.exitCode !== 0)
                throw new errors/* ClusterError */.b$(client.cluster.context, `bundle set for ${other.trustDomain} failed: ${result.stderr.trim() || result.stdout.trim()}`);
            records.push({ ref, action: held === null ? 'created' : 'changed' });
            log(`${held === null ? 'set' : 'updated'} the ${other.trustDomain} bundle`);
        }
        return { records };
    });
    return mergeOutcomes([shown, set]);
}
/** Applied before the rest, so every cluster's bundle endpoint address is known when its peers' config is rendered. */
const exposedFirst = (o) => o.kind === 'Namespace' || (o.kind === 'Service' && o.metadata.name === names/* SPIRE_SERVER */.s_.service);
async function runSpire(ctx) {
    const { config } = ctx;
    const expose = await onEachCluster('spire · expose bundle endpoint', ctx.clients, async (client, log) => {
        const first = (0,render/* renderPhase */.qq)(config, 'spire', client.cluster, ctx.facts).objects.filter(exposedFirst);
        const records = await applyInOrder(client, first);
        const url = await discoverBundleEndpoint(client, config.serviceType);
        ctx.facts.bundleEndpoints = {
            ...ctx.facts.bundleEndpoints,
            [client.cluster.trustDomain]: url,
        };
        log(`bundle endpoint of ${client.cluster.trustDomain}: ${url}`);
        return { records, notes: [`bundle endpoint ${url}`] };
    });
    if (anyFailed(expose))
        return expose;
    const install = await onEachCluster('spire · install', ctx.clients, async (client, log) => {
        const rendered = (0,render/* renderPhase */.qq)(config, 'spire', client.cluster, ctx.facts);
        ctx.writeManifest(client.cluster.context, 'spire', (0,render/* toYaml */.fE)(rendered.objects));
        const records = await applyInOrder(client, rendered.objects.filter((o) => !exposedFirst(o)));
        await waitForRollouts(client, rendered.objects);
        log('SPIRE server and agents are ready');
        return { records };
    });
    if (anyFailed(install))
        return mergeOutcomes([expose, install]);
    // A failed exchange is reported per cluster, with what was installed above.
    return mergeOutcomes([expose, install, await exchangeBundles(ctx)]);
}

// EXTERNAL MODULE: ./node_modules/@actions/exec/lib/exec.js + 2 modules
var exec = __webpack_require__(5260);
;// CONCATENATED MODULE: ./src/tools/run-istioctl.ts
// Runs istioctl against the run's private kubeconfig. Output is captured, never
// echoed: create-remote-secret prints a service account token.

async function runIstioctl(binary, kubeconfigFile, args) {
    const result = await (0,exec/* getExecOutput */.H)(binary, args, {
        silent: true,
        ignoreReturnCode: true,
        env: { ...process.env, KUBECONFIG: kubeconfigFile },
    });
    if (result.exitCode !== 0) {
        const reason = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-5).join(' | ');
        throw new Error(`istioctl ${args.slice(0, 2).join(' ')} failed (exit ${result.exitCode}): ${reason}`);
    }
    return result.stdout;
}

;// CONCATENATED MODULE: ./src/phases/istio.ts
// Seed: istio/install-istio.sh. Renders each cluster's IstioOperators with
// `istioctl manifest generate` and applies the result with our field manager
// (labelled, so cleanup finds it; idempotent, so a re-run changes nothing),
// then creates remote secrets in both directions.











/**
 * istiod manages two webhook fields at run time: it fills in `caBundle` (the
 * charts ship it empty) and flips its validator's `failurePolicy` from Ignore
 * to Fail once it serves. Applying the chart's values would make us own those
 * fields and fight istiod on every run, so they are left to istiod.
 */
function withoutIstiodManagedFields(o) {
    const webhooks = o.webhooks;
    if (!Array.isArray(webhooks))
        return o;
    const validating = o.kind === 'ValidatingWebhookConfiguration';
    return {
        ...o,
        webhooks: webhooks.map((webhook) => {
            const { failurePolicy, clientConfig, ...rest } = webhook;
            const { caBundle, ...config } = clientConfig ?? {};
            return {
                ...rest,
                ...(validating || failurePolicy === undefined ? {} : { failurePolicy }),
                clientConfig: caBundle ? { ...config, caBundle } : config,
            };
        }),
    };
}
/** istioctl's rendering of the cluster's IstioOperators, ready to apply. */
async function generateIstioObjects(ctx, client, operators) {
    const istioctl = await ctx.istioctl();
    const byRef = new Map();
    for (const operator of operators) {
        const file = (0,kubeconfig/* writePrivateFile */.Pl)(ctx.runDir, `${client.cluster.context}-${operator.metadata.name}.yaml`, (0,render/* toYaml */.fE)([operator]));
        const text = await runIstioctl(istioctl, ctx.kubeconfigFile, [
            'manifest',
            'generate',
            '-f',
            file,
        ]);
        for (const o of parseObjects(text, `istioctl manifest generate (${operator.metadata.name})`))
            byRef.set(objectRef(o), (0,render/* labelObject */.so)(withoutIstiodManagedFields(o), 'istio'));
    }
    return [...byRef.values()];
}
function isLoopback(url) {
    const host = new URL(url).hostname;
    return host === 'localhost' || host.startsWith('127.') || host === '[::1]';
}
/** The remote secret lets the other clusters' istiod read this cluster's endpoints. */
async function remoteSecret(ctx, source) {
    const server = source.cluster.apiServer || source.server;
    if (!source.cluster.apiServer && isLoopback(server))
        core/* warning */.$e(`The remote secret for cluster '${source.cluster.context}' points at ${server}, a loopback address other clusters can only use when they share this host. Set 'api-servers' to addresses the clusters can reach.`);
    const istioctl = await ctx.istioctl();
    const text = await runIstioctl(istioctl, ctx.kubeconfigFile, [
        'create-remote-secret',
        `--context=${source.cluster.context}`,
        `--name=${source.cluster.name}`,
        `--server=${server}`,
    ]);
    const secret = parseObjects(text, 'istioctl create-remote-secret').find((o) => o.kind === 'Secret');
    if (!secret)
        throw new Error(`istioctl create-remote-secret printed no Secret for cluster '${source.cluster.context}'`);
    for (const value of Object.values((secret.stringData ?? {}))) {
        ctx.mask(value);
        const users = yaml_dist.parse(value)?.users ?? [];
        for (const u of users)
            if (u.user?.token)
                ctx.mask(u.user.token);
    }
    return (0,render/* labelObject */.so)(secret, 'istio');
}
async function runIstio(ctx) {
    const { config } = ctx;
    const install = await onEachCluster('istio · install', ctx.clients, async (client, log) => {
        const rendered = (0,render/* renderPhase */.qq)(config, 'istio', client.cluster, ctx.facts);
        const generated = await generateIstioObjects(ctx, client, rendered.istioOperators);
        ctx.writeManifest(client.cluster.context, 'istio', (0,render/* toYaml */.fE)([...rendered.istioOperators, ...rendered.objects, ...generated]));
        const records = await applyInOrder(client, [...generated, ...rendered.objects]);
        await waitForRollouts(client, generated);
        log(`Istio ${config.versions.istio} is ready (${generated.length} objects from istioctl manifest generate)`);
        return { records };
    });
    if (anyFailed(install))
        return install;
    const secrets = new Map();
    const created = await onEachCluster('istio · create remote secret', ctx.clients, async (client, log) => {
        secrets.set(client.cluster.context, await remoteSecret(ctx, client));
        log('created the remote secret (token masked)');
    });
    if (anyFailed(created))
        return mergeOutcomes([install, created]);
    const applied = await onEachCluster('istio · apply remote secrets', ctx.clients, async (client, log) => {
        const others = ctx.clients
            .filter((c) => c !== client)
            .map((c) => secrets.get(c.cluster.context));
        const records = await applyInOrder(client, others);
        log(`remote secrets for ${ctx.clients
            .filter((c) => c !== client)
            .map((c) => c.cluster.context)
            .join(', ')}`);
        return { records };
    });
    return mergeOutcomes([install, created, applied]);
}

;// CONCATENATED MODULE: ./src/phases/examples.ts
// Seed: examples/deploy-helloworld.sh and deploy-bookinfo.sh. helloworld v1 on
// the first cluster and v2 on the second behind one Service name, sleep as the
// client, bookinfo on the second cluster.




async function runExamples(ctx) {
    return onEachCluster('examples', ctx.clients, async (client, log) => {
        const rendered = (0,render/* renderPhase */.qq)(ctx.config, 'examples', client.cluster, ctx.facts);
        ctx.writeManifest(client.cluster.context, 'examples', (0,render/* toYaml */.fE)(rendered.objects));
        const records = await applyInOrder(client, rendered.objects);
        await waitForRollouts(client, rendered.objects);
        const deployments = rendered.objects
            .filter((o) => o.kind === 'Deployment')
            .map((o) => o.metadata.name);
        log(`ready: ${deployments.join(', ')}`);
        return { records };
    });
}

;// CONCATENATED MODULE: ./src/verify/identities.ts
// Registration entries on a SPIRE server versus the workloads that need an
// identity. Reads `spire-server entry show` as printed by SPIRE 1.5 and later
// (cmd/spire-server/cli/entry/util.go printEntry: "Key<padding>: value" lines,
// one block per entry, repeated Selector / FederatesWith / DNS name lines), and
// the `-output json` form of newer servers.


class SpireOutputError extends Error {
    name = 'SpireOutputError';
}
const KEY_LINE = /^([A-Za-z0-9][A-Za-z0-9 -]*?)\s*:\s?(.*)$/;
function emptyEntry(entryId) {
    return {
        entryId,
        spiffeId: '',
        parentId: '',
        selectors: [],
        federatesWith: [],
        dnsNames: [],
        downstream: false,
        admin: false,
    };
}
function parsePretty(text) {
    const entries = [];
    let current;
    let announced;
    for (const raw of text.split(/\r?\n/)) {
        const line = raw.trimEnd();
        if (!line.trim())
            continue;
        const found = /^Found (\d+) entr(?:y|ies)$/.exec(line.trim());
        if (found) {
            announced = Number(found[1]);
            continue;
        }
        const match = KEY_LINE.exec(line.trim());
        if (!match)
            throw new SpireOutputError(`unexpected line in entry show output: ${line}`);
        const key = match[1].toLowerCase();
        const value = match[2].trim();
        if (key === 'entry id') {
            current = emptyEntry(value);
            entries.push(current);
            continue;
        }
        if (!current)
            throw new SpireOutputError(`unexpected line before any entry: ${line.trim()}`);
        switch (key) {
            case 'spiffe id':
                current.spiffeId = value;
                break;
            case 'parent id':
                current.parentId = value;
                break;
            case 'revision':
                current.revision = Number(value);
                break;
            case 'ttl':
            case 'x509-svid ttl':
                current.x509SvidTtl = value;
                break;
            case 'jwt-svid ttl':
                current.jwtSvidTtl = value;
                break;
            case 'selector':
                current.selectors.push(value);
                break;
            case 'federateswith':
                current.federatesWith.push(normalizeTrustDomain(value));
                break;
            case 'dns name':
                current.dnsNames.push(value);
                break;
            case 'downstream':
                current.downstream = value === 'true';
                break;
            case 'admin':
                current.admin = value === 'true';
                break;
            case 'expiration time':
                current.expiresAt = value;
                break;
            case 'hint':
                current.hint = value;
                break;
            default:
                // StoreSvid and later additions: not needed to judge identities.
                break;
        }
    }
    if (announced === undefined && entries.length === 0) {
        throw new SpireOutputError('not entry show output: no "Found N entries" line and no entries');
    }
    if (announced !== undefined && announced !== entries.length) {
        throw new SpireOutputError(`output announces ${announced} entries but holds ${entries.length}`);
    }
    for (const e of entries) {
        if (!e.spiffeId)
            throw new SpireOutputError(`entry ${e.entryId} has no SPIFFE ID`);
    }
    return entries;
}
const idString = (id) => id?.trust_domain ? `spiffe://${normalizeTrustDomain(id.trust_domain)}${id.path ?? ''}` : '';
function parseJson(text) {
    let doc;
    try {
        doc = JSON.parse(text);
    }
    catch (err) {
        throw new SpireOutputError(`entry show JSON does not parse: ${err.message}`);
    }
    if (!Array.isArray(doc.entries))
        throw new SpireOutputError('entry show JSON has no "entries" list');
    return doc.entries.map((e) => {
        const entry = emptyEntry(e.id ?? '');
        entry.spiffeId = idString(e.spiffe_id);
        entry.parentId = idString(e.parent_id);
        if (e.revision_number !== undefined)
            entry.revision = Number(e.revision_number);
        entry.x509SvidTtl = e.x509_svid_ttl ? String(e.x509_svid_ttl) : 'default';
        entry.jwtSvidTtl = e.jwt_svid_ttl ? String(e.jwt_svid_ttl) : 'default';
        entry.selectors = (e.selectors ?? []).map((s) => `${s.type}:${s.value}`);
        entry.federatesWith = (e.federates_with ?? []).map(normalizeTrustDomain);
        entry.dnsNames = e.dns_names ?? [];
        entry.downstream = e.downstream === true;
        entry.admin = e.admin === true;
        if (e.expires_at && String(e.expires_at) !== '0')
            entry.expiresAt = String(e.expires_at);
        if (e.hint)
            entry.hint = e.hint;
        if (!entry.spiffeId)
            throw new SpireOutputError(`entry ${entry.entryId} has no SPIFFE ID`);
        return entry;
    });
}
/** Parses `spire-server entry show` output (pretty or `-output json`); throws SpireOutputError. */
function parseEntryShow(text) {
    const trimmed = text.trim();
    return trimmed.startsWith('{') ? parseJson(trimmed) : parsePretty(trimmed);
}
/**
 * Whether an entry's Kubernetes selectors can select this workload. Only the
 * selectors we can evaluate from the workload's facts are checked; others
 * (pod-label, container-name, ...) are assumed to match.
 */
function selectsWorkload(entry, w) {
    for (const selector of entry.selectors) {
        const [type, key, ...rest] = selector.split(':');
        if (type !== 'k8s')
            continue;
        const value = rest.join(':');
        if (key === 'ns' && value !== w.namespace)
            return false;
        if (key === 'sa' && value !== w.serviceAccount)
            return false;
        if (key === 'pod-uid' && w.podUid && value !== w.podUid)
            return false;
        if (key === 'pod-name' && w.pod && value !== w.pod)
            return false;
    }
    return true;
}
const workloadLabel = (w) => w.pod ? `${w.namespace}/${w.pod}` : `${w.namespace} (sa ${w.serviceAccount})`;
function analyzeIdentities(evidence) {
    const { cluster } = evidence;
    const ownTd = normalizeTrustDomain(evidence.trustDomain);
    const others = [...new Set(evidence.meshTrustDomains.map(normalizeTrustDomain))].filter((td) => td !== ownTd);
    let entries;
    try {
        entries =
            typeof evidence.entries === 'string' ? parseEntryShow(evidence.entries) : evidence.entries;
    }
    catch (err) {
        const reason = `cannot read spire-server entry show output: ${err.message}`;
        return evidence.workloads.map((w) => failed(`identity ${workloadLabel(w)}`, cluster, reason));
    }
    return evidence.workloads.map((w) => {
        const name = `identity ${workloadLabel(w)}`;
        const expectedId = workloadSpiffeId(ownTd, w.namespace, w.serviceAccount);
        const base = { expectedId, workload: w };
        const exact = entries.filter((e) => e.spiffeId === expectedId);
        if (exact.length === 0) {
            const samePath = `/ns/${w.namespace}/sa/${w.serviceAccount}`;
            const elsewhere = entries.filter((e) => {
                const id = parseSpiffeId(e.spiffeId);
                return id !== undefined && id.path === samePath && id.trustDomain !== ownTd;
            });
            if (elsewhere.length > 0) {
                return failed(name, cluster, `entry in the wrong trust domain: ${elsewhere[0]?.spiffeId}, expected ${expectedId}`, { ...base, found: elsewhere.map((e) => e.spiffeId) });
            }
            return failed(name, cluster, `no registration entry for ${expectedId}`, {
                ...base,
                entries: entries.length,
            });
        }
        const selecting = exact.filter((e) => selectsWorkload(e, w));
        if (selecting.length === 0) {
            return failed(name, cluster, `entries for ${expectedId} exist but none selects ${workloadLabel(w)} (stale entries?)`, { ...base, selectors: exact.map((e) => e.selectors) });
        }
        // The agent may hand out any matching entry, so every one must federate.
        const lacking = selecting
            .map((e) => ({
            entryId: e.entryId,
            missing: others.filter((td) => !e.federatesWith.includes(td)),
        }))
            .filter((x) => x.missing.length > 0);
        if (lacking.length > 0) {
            const missing = [...new Set(lacking.flatMap((x) => x.missing))];
            return failed(name, cluster, `missing federatesWith ${missing.join(', ')} on entry ${lacking[0]?.entryId} for ${expectedId}`, { ...base, missing, entries: lacking });
        }
        const federates = others.length ? `, federates with ${others.join(', ')}` : '';
        return passed(name, cluster, `${expectedId}${federates}`, {
            ...base,
            entryIds: selecting.map((e) => e.entryId),
        });
    });
}

;// CONCATENATED MODULE: ./src/verify/proxy-secret.ts
// What `istioctl proxy-config secret <pod> -o json` says about a sidecar's SDS
// secrets: the protobuf-JSON SecretsConfigDump (camelCase, bytes as base64).
// The Envoy admin config_dump (snake_case, wrapped in `configs`) is read too.

/** Istio's SDS resource names for the workload certificate and the trust bundles. */
const DEFAULT_SECRET = 'default';
const ROOTCA_SECRET = 'ROOTCA';
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Reads a protobuf-JSON field in istioctl's camelCase or Envoy admin's snake_case. */
function field(obj, camel) {
    if (!isObject(obj))
        return undefined;
    if (camel in obj)
        return obj[camel];
    const snake = camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    return obj[snake];
}
function path(obj, ...names) {
    return names.reduce((o, name) => field(o, name), obj);
}
/** An Envoy DataSource: `bytes` arrive base64-encoded in JSON, `string` as is. */
function dataSource(obj) {
    const bytes = field(obj, 'inlineBytes');
    if (typeof bytes === 'string' && bytes)
        return decodeBase64(bytes);
    const text = field(obj, 'inlineString');
    return typeof text === 'string' && text ? text : undefined;
}
/** Parses the proxy-config secret dump; throws when it is not one. */
function parseProxySecrets(dump) {
    let doc = dump;
    if (typeof dump === 'string') {
        try {
            doc = JSON.parse(dump);
        }
        catch (err) {
            throw new Error(`not JSON: ${err.message}`);
        }
    }
    // The full Envoy config_dump wraps the secrets dump in `configs`.
    const configs = field(doc, 'configs');
    if (Array.isArray(configs)) {
        doc = configs.find((c) => field(c, 'dynamicActiveSecrets') !== undefined) ?? {};
    }
    const list = field(doc, 'dynamicActiveSecrets');
    if (list !== undefined && !Array.isArray(list)) {
        throw new Error('dynamicActiveSecrets is not a list');
    }
    const secrets = (list ?? []);
    const result = { secretNames: secrets.map((s) => String(field(s, 'name') ?? '')) };
    const byName = (name) => field(secrets.find((s) => field(s, 'name') === name), 'secret');
    const chain = dataSource(path(byName(DEFAULT_SECRET), 'tlsCertificate', 'certificateChain'));
    if (chain)
        result.chainPem = chain;
    const validation = path(byName(ROOTCA_SECRET), 'validationContext');
    const domains = path(validation, 'customValidatorConfig', 'typedConfig', 'trustDomains');
    if (Array.isArray(domains)) {
        result.trustDomainBundles = new Map(domains.map((d) => [
            normalizeTrustDomain(String(field(d, 'name') ?? '')),
            dataSource(field(d, 'trustBundle')) ?? '',
        ]));
    }
    const flat = dataSource(field(validation, 'trustedCa'));
    if (flat)
        result.trustedCaPem = flat;
    return result;
}

;// CONCATENATED MODULE: ./src/verify/chain.ts
// The certificate chain a sidecar actually serves, read from
// `istioctl proxy-config secret <pod> -o json`, checked with a real X.509
// implementation (Node's X509Certificate, i.e. OpenSSL):
//   leaf (SPIFFE ID of the workload) <- SPIRE intermediate (a CA)
//   <- cert-manager root (the one in the cluster's CA secret),
// plus the ROOTCA trust bundles (one per trust domain of the mesh) and the
// validity window of every certificate. SPIRE does not send the root in the
// chain, so it is looked up in the workload's own trust bundle.



function row(cert, role, source, trustDomain) {
    const spiffeId = spiffeUris(cert)[0];
    return {
        role,
        source,
        trustDomain,
        subject: oneLine(cert.subject),
        issuer: oneLine(cert.issuer),
        ...(spiffeId ? { spiffeId } : {}),
        notBefore: cert.validFromDate.toISOString(),
        notAfter: cert.validToDate.toISOString(),
        keyType: keyDescription(cert),
        sha256: cert.fingerprint256,
    };
}
const quoted = (cert) => `"${oneLine(cert.subject)}"`;
function identityProblem(leaf, expected) {
    const expectedId = workloadSpiffeId(expected.trustDomain, expected.namespace, expected.serviceAccount);
    const uris = spiffeUris(leaf);
    if (uris.length === 0)
        return `leaf has no SPIFFE URI SAN, expected ${expectedId}`;
    if (uris.length > 1) {
        return `leaf has ${uris.length} SPIFFE URI SANs (${uris.join(', ')}); an X.509-SVID carries exactly one`;
    }
    const uri = uris[0];
    const id = parseSpiffeId(uri);
    if (!id)
        return `leaf URI SAN ${uri} is not a valid SPIFFE ID`;
    if (id.trustDomain !== normalizeTrustDomain(expected.trustDomain)) {
        return `wrong trust domain: leaf is ${uri}, expected ${expectedId}`;
    }
    const parts = /^\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id.path);
    if (!parts)
        return `unexpected SPIFFE ID path: leaf is ${uri}, expected ${expectedId}`;
    if (parts[1] !== expected.namespace) {
        return `wrong namespace: leaf is ${uri}, expected ${expectedId}`;
    }
    if (parts[2] !== expected.serviceAccount) {
        return `wrong service account: leaf is ${uri}, expected ${expectedId}`;
    }
    return undefined;
}
function walkChain(chain, ownTd, ownBundle, cmRoots) {
    const leaf = chain[0];
    if (leaf.ca) {
        return {
            problem: 'leaf is a CA certificate; an X.509-SVID leaf must not be',
            intermediates: [],
        };
    }
    if (chain.length === 1) {
        return {
            problem: "chain holds only the leaf; SPIRE's intermediate is missing",
            intermediates: [],
        };
    }
    for (let i = 0; i + 1 < chain.length; i++) {
        const child = chain[i];
        const parent = chain[i + 1];
        if (isSignedBy(child, parent))
            continue;
        const why = child.issuer !== parent.subject
            ? `it names issuer "${oneLine(child.issuer)}"`
            : !child.checkIssued(parent)
                ? "its authority key identifier does not match that certificate's key"
                : 'its signature does not verify with that key';
        return {
            problem: i === 0
                ? `leaf not signed by the intermediate ${quoted(parent)}: ${why}`
                : `intermediate ${quoted(child)} not signed by the next certificate ${quoted(parent)}: ${why}`,
            intermediates: [],
        };
    }
    const top = chain[chain.length - 1];
    let root;
    let rootSource = 'chain';
    let intermediates;
    if (isSelfSigned(top)) {
        if (chain.length === 2) {
            return {
                problem: `leaf is signed directly by the root ${quoted(top)}; SPIRE's intermediate is missing`,
                intermediates: [],
            };
        }
        root = top;
        intermediates = chain.slice(1, -1);
    }
    else {
        intermediates = chain.slice(1);
        root = ownBundle.find((c) => isSignedBy(top, c));
        rootSource = 'bundle';
        if (!root) {
            const cm = cmRoots.find((c) => isSignedBy(top, c));
            if (cm) {
                return {
                    problem: `root missing from ${ownTd}'s trust bundle: ${quoted(top)} is signed by the cert-manager CA ${quoted(cm)}, which the bundle does not hold`,
                    intermediates,
                };
            }
            return {
                problem: `intermediate not signed by the root: neither ${ownTd}'s trust bundle (${ownBundle.length} certificate(s)) nor the cert-manager CA verifies ${quoted(top)} (issuer "${oneLine(top.issuer)}")`,
                intermediates,
            };
        }
    }
    const walk = { intermediates, root, rootSource };
    const notCa = intermediates.find((c) => !c.ca);
    if (notCa)
        return { ...walk, problem: `intermediate ${quoted(notCa)} is not a CA certificate` };
    const cmFingerprints = new Set(cmRoots.map((c) => c.fingerprint256));
    if (!cmFingerprints.has(root.fingerprint256)) {
        const cm = cmRoots[0];
        return {
            ...walk,
            problem: `root is not the cert-manager CA: chain ends at ${quoted(root)} (${root.fingerprint256}), the cert-manager CA is ${cm ? `${quoted(cm)} (${cm.fingerprint256})` : 'unknown'}`,
        };
    }
    if (!root.ca)
        return { ...walk, problem: `root ${quoted(root)} is not a CA certificate` };
    if (rootSource === 'chain' && !ownBundle.some((c) => c.fingerprint256 === root.fingerprint256)) {
        return {
            ...walk,
            problem: `root missing from ${ownTd}'s trust bundle: the cert-manager CA ${quoted(root)} is not in it`,
        };
    }
    return walk;
}
function validityProblem(label, cert, now) {
    if (now < cert.validFromDate) {
        return `${label} ${quoted(cert)} not yet valid (valid from ${cert.validFromDate.toISOString()})`;
    }
    if (now > cert.validToDate) {
        return `${label} ${quoted(cert)} expired at ${cert.validToDate.toISOString()}`;
    }
    return undefined;
}
const tryParse = (pem) => {
    try {
        return { certs: parsePemCertificates(pem) };
    }
    catch (err) {
        return { certs: [], error: err.message };
    }
};
function parseEvidence(evidence, secrets) {
    const ownTd = normalizeTrustDomain(evidence.expected.trustDomain);
    const certManager = tryParse(evidence.certManagerCaPem);
    const selfSigned = certManager.certs.filter((c) => isSelfSigned(c));
    const bundles = new Map();
    for (const [td, pem] of secrets.trustDomainBundles ?? [])
        bundles.set(td, tryParse(pem));
    const flat = secrets.trustedCaPem !== undefined ? tryParse(secrets.trustedCaPem) : undefined;
    const parsedChain = secrets.chainPem !== undefined ? tryParse(secrets.chainPem) : undefined;
    const chain = parsedChain?.certs ?? [];
    const chainMissing = !parsedChain
        ? `no "${DEFAULT_SECRET}" certificate in the proxy's secrets (${secrets.secretNames.join(', ') || 'none'}); the workload got no SVID`
        : parsedChain.error
            ? `cannot parse the certificate chain: ${parsedChain.error}`
            : chain.length === 0
                ? `the "${DEFAULT_SECRET}" secret holds no certificate`
                : undefined;
    const meshRoots = new Map();
    for (const [td, pem] of Object.entries(evidence.meshRootsPem ?? {})) {
        meshRoots.set(normalizeTrustDomain(td), new Set(tryParse(pem).certs.map((c) => c.fingerprint256)));
    }
    return {
        ownTd,
        meshTds: [...new Set([ownTd, ...evidence.meshTrustDomains.map(normalizeTrustDomain)])],
        now: evidence.now,
        chain,
        ...(chainMissing ? { chainMissing } : {}),
        certManager,
        certManagerRoots: selfSigned.length > 0 ? selfSigned : certManager.certs,
        bundles,
        ...(flat ? { flat } : {}),
        ownBundle: secrets.trustDomainBundles ? (bundles.get(ownTd)?.certs ?? []) : (flat?.certs ?? []),
        meshRoots,
    };
}
function identityCheck(name, cluster, p, expected) {
    if (p.chainMissing)
        return failed(name, cluster, p.chainMissing);
    const leaf = p.chain[0];
    const problem = identityProblem(leaf, expected);
    const ids = spiffeUris(leaf);
    return problem
        ? failed(name, cluster, problem, { spiffeIds: ids })
        : passed(name, cluster, ids[0]);
}
function chainCheck(name, cluster, p) {
    const none = { intermediates: [] };
    if (p.chainMissing)
        return { check: failed(name, cluster, p.chainMissing), walk: none };
    if (p.certManager.error || p.certManager.certs.length === 0) {
        const why = p.certManager.error ?? 'no certificate in the PEM';
        return {
            check: failed(name, cluster, `cannot read the cert-manager CA certificate: ${why}`),
            walk: none,
        };
    }
    const walk = walkChain(p.chain, p.ownTd, p.ownBundle, p.certManagerRoots);
    const path = [
        p.chain[0],
        ...walk.intermediates,
        ...(walk.root ? [walk.root] : []),
    ];
    const details = { path: path.map((c) => oneLine(c.subject)) };
    if (walk.problem)
        return { check: failed(name, cluster, walk.problem, details), walk };
    const links = walk.intermediates.map(quoted).join(' <- ');
    const reason = `leaf <- ${links} <- cert-manager root ${quoted(walk.root)}`;
    return { check: passed(name, cluster, reason, details), walk };
}
/** ROOTCA must hold every trust domain of the mesh, labelled (SPIFFE validator) or attributable (flat). */
function bundlesCheck(name, cluster, p) {
    const problems = [];
    if (p.bundles.size > 0 || !p.flat) {
        if (p.bundles.size === 0) {
            return failed(name, cluster, `no "${ROOTCA_SECRET}" trust bundle in the proxy's secrets`);
        }
        const missing = p.meshTds.filter((td) => !p.bundles.get(td)?.certs.length && !p.bundles.get(td)?.error);
        if (missing.length)
            problems.push(`ROOTCA trust bundles lack ${missing.join(', ')}`);
        for (const td of p.meshTds) {
            const bundle = p.bundles.get(td);
            if (bundle?.error)
                problems.push(`cannot parse ${td}'s trust bundle: ${bundle.error}`);
            const want = p.meshRoots.get(td);
            if (bundle?.certs.length &&
                want?.size &&
                !bundle.certs.some((c) => want.has(c.fingerprint256))) {
                problems.push(`${td}'s trust bundle does not hold ${td}'s cert-manager CA`);
            }
        }
        const held = [...p.bundles.keys()];
        return problems.length
            ? failed(name, cluster, problems.join('; '), { held, expected: p.meshTds })
            : passed(name, cluster, `ROOTCA holds ${p.meshTds.join(', ')}`, { held });
    }
    const flat = p.flat;
    const have = new Set(flat.certs.map((c) => c.fingerprint256));
    if (flat.error)
        problems.push(`cannot parse the trustedCa bundle: ${flat.error}`);
    for (const td of p.meshTds) {
        const own = td === p.ownTd ? new Set(p.certManagerRoots.map((c) => c.fingerprint256)) : undefined;
        const want = p.meshRoots.get(td) ?? own;
        if (!want?.size) {
            problems.push(`ROOTCA is one trustedCa list without trust domains; cannot confirm it holds ${td}`);
        }
        else if (![...want].some((f) => have.has(f))) {
            problems.push(`ROOTCA trusted CAs lack ${td}'s root`);
        }
    }
    return problems.length
        ? failed(name, cluster, problems.join('; '))
        : passed(name, cluster, `ROOTCA trusted CAs hold the roots of ${p.meshTds.join(', ')}`);
}
function validityCheck(name, cluster, p, walk) {
    if (p.chainMissing)
        return failed(name, cluster, p.chainMissing);
    const leaf = p.chain[0];
    const labelled = [
        ['leaf', leaf],
        ...walk.intermediates.map((c) => ['intermediate', c]),
        ...(walk.root ? [['root', walk.root]] : []),
    ];
    // Certificates the walk could not place still must be in their window.
    for (const c of p.chain.slice(1)) {
        if (!labelled.some(([, placed]) => placed === c))
            labelled.push(['chain certificate', c]);
    }
    const problems = labelled
        .map(([label, c]) => validityProblem(label, c, p.now))
        .filter((problem) => problem !== undefined);
    // An old root may linger in a bundle after a rotation; a bundle without any valid root is broken.
    for (const [td, bundle] of p.bundles) {
        const usable = bundle.certs.some((c) => !validityProblem('', c, p.now));
        if (p.meshTds.includes(td) && bundle.certs.length && !usable) {
            problems.push(`${td}'s trust bundle holds no currently valid root (all expired or not yet valid)`);
        }
    }
    if (problems.length)
        return failed(name, cluster, problems.join('; '));
    const when = p.now.toISOString();
    return passed(name, cluster, `${labelled.length} certificate(s) valid at ${when}; leaf expires ${leaf.validToDate.toISOString()}`);
}
/** The summary table: the served chain, its root, then the other trust domains' roots. */
function certificateRows(p, walk) {
    const rows = [];
    if (!p.chainMissing) {
        rows.push(row(p.chain[0], 'leaf', 'chain', p.ownTd));
        const placed = walk.root ? walk.intermediates : p.chain.slice(1);
        for (const c of placed) {
            rows.push(row(c, isSelfSigned(c) ? 'root' : 'intermediate', 'chain', p.ownTd));
        }
        if (walk.root)
            rows.push(row(walk.root, 'root', walk.rootSource ?? 'bundle', p.ownTd));
    }
    for (const td of p.meshTds) {
        if (td === p.ownTd)
            continue;
        for (const c of p.bundles.get(td)?.certs ?? [])
            rows.push(row(c, 'root', 'bundle', td));
    }
    return rows;
}
function analyzeChain(evidence) {
    const { cluster, workload } = evidence;
    const names = {
        identity: `SPIFFE ID ${workload}`,
        chain: `certificate chain ${workload}`,
        bundles: `trust bundles ${workload}`,
        validity: `certificate validity ${workload}`,
    };
    let secrets;
    try {
        secrets = parseProxySecrets(evidence.proxySecret);
    }
    catch (err) {
        const reason = `cannot read istioctl proxy-config secret output: ${err.message}`;
        const checks = Object.values(names).map((name) => failed(name, cluster, reason));
        return { cluster, workload, ok: false, rows: [], checks };
    }
    const p = parseEvidence(evidence, secrets);
    const { check: chain, walk } = chainCheck(names.chain, cluster, p);
    const checks = [
        identityCheck(names.identity, cluster, p, evidence.expected),
        chain,
        bundlesCheck(names.bundles, cluster, p),
        validityCheck(names.validity, cluster, p, walk),
    ];
    return { cluster, workload, ok: allPassed(checks), rows: certificateRows(p, walk), checks };
}

;// CONCATENATED MODULE: ./src/verify/traffic.ts
// Traffic through the mesh, judged from what the sleep pod's curl saw.
// East-west: requests to helloworld must reach every version, each living in
// its own cluster (v1 in the first, v2 in the second), with no failure.
// North-south: through the second cluster's ingress gateway, only v2 answers.
//
// The lead runs `trafficScript(url, n)` in the sleep pod and feeds its stdout to
// `parseTrafficOutput`. One request prints:
//   @@mesh-federation begin <i>
//   <response body, verbatim>
//   @@mesh-federation meta <http_code> <time_total seconds>
//   @@mesh-federation end <i> <curl exit code>
// curl's -w text starts with a newline, so a body without one still ends its line.

const HELLO = /Hello version: ([^,\s]+), instance: (\S+)/;
/** "Hello version: v1, instance: helloworld-v1-6bb5b589d6-jq4gn" */
function parseHelloBody(body) {
    const m = HELLO.exec(body);
    return m ? { version: m[1], instance: m[2] } : undefined;
}
const MARK = '@@mesh-federation';
const shellQuote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
/**
 * A POSIX sh loop for the sleep pod: `n` sequential curl requests, each bounded
 * by --max-time, so the whole run takes at most n * maxTimeSeconds.
 */
function trafficScript(url, n, options = {}) {
    if (!Number.isInteger(n) || n < 1 || n > 10_000)
        throw new RangeError(`request count must be 1..10000, got ${n}`);
    if (!url || /[\s\p{Cc}]/u.test(url))
        throw new Error(`invalid URL for the traffic check: ${JSON.stringify(url)}`);
    const maxTime = options.maxTimeSeconds ?? 5;
    const connect = options.connectTimeoutSeconds ?? Math.min(3, maxTime);
    for (const t of [maxTime, connect]) {
        if (!(t > 0 && t <= 300))
            throw new RangeError(`timeout must be in (0, 300] seconds, got ${t}`);
    }
    return [
        'i=0',
        `while [ "$i" -lt ${n} ]; do`,
        '  i=$((i + 1))',
        `  echo "${MARK} begin $i"`,
        `  curl -s --connect-timeout ${connect} --max-time ${maxTime} -w '\\n${MARK} meta %{http_code} %{time_total}\\n' ${shellQuote(url)}`,
        `  echo "${MARK} end $i $?"`,
        'done',
        '',
    ].join('\n');
}
const CURL_ERRORS = {
    3: 'malformed URL',
    6: 'could not resolve host',
    7: 'connection refused',
    18: 'partial response',
    28: 'timed out',
    35: 'TLS handshake failed',
    52: 'empty reply',
    56: 'connection reset',
    60: 'server certificate not trusted',
};
const curlError = (code) => `curl exit ${code}${CURL_ERRORS[code] ? ` (${CURL_ERRORS[code]})` : ''}`;
/** Samples from the script's stdout, in order; a request cut off mid-way counts as failed. */
function parseTrafficOutput(stdout) {
    const samples = [];
    let open;
    const close = (exit) => {
        if (!open)
            return;
        const status = open.status ?? 0;
        const error = exit === undefined
            ? 'output cut off before the request finished'
            : exit !== 0
                ? curlError(exit)
                : undefined;
        samples.push({
            ok: exit === 0 && status >= 200 && status < 300,
            status,
            body: open.body.join('\n'),
            ms: open.ms ?? 0,
            ...(error ? { error } : {}),
        });
        open = undefined;
    };
    for (const raw of stdout.split('\n')) {
        const line = raw.replace(/\r$/, '');
        if (line.startsWith(`${MARK} `)) {
            const [, kind, a, b] = line.split(' ');
            if (kind === 'begin') {
                close(undefined);
                open = { body: [], meta: false };
                continue;
            }
            if (kind === 'meta' && open) {
                open.meta = true;
                open.status = Number.parseInt(a ?? '', 10) || 0;
                const seconds = Number.parseFloat(b ?? '');
                open.ms = Number.isFinite(seconds) ? Math.round(seconds * 10_000) / 10 : 0;
                continue;
            }
            if (kind === 'end' && open) {
                const exit = Number.parseInt(b ?? '', 10);
                close(Number.isNaN(exit) ? undefined : exit);
                continue;
            }
        }
        if (open && !open.meta)
            open.body.push(line);
    }
    close(undefined);
    return samples;
}
/** Nearest-rank percentile of sorted values. */
const percentile = (sorted, p) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
const failureKind = (s) => s.error ?? (s.status ? `HTTP ${s.status}` : 'no response');
function summarizeTraffic(samples, clusterOf = {}) {
    const versions = {};
    const failures = {};
    let unrecognized = 0;
    for (const s of samples) {
        if (!s.ok) {
            const kind = failureKind(s);
            failures[kind] = (failures[kind] ?? 0) + 1;
            continue;
        }
        const answer = parseHelloBody(s.body);
        if (!answer) {
            unrecognized++;
            continue;
        }
        const stats = (versions[answer.version] ??= {
            count: 0,
            share: 0,
            ...(clusterOf[answer.version] ? { cluster: clusterOf[answer.version] } : {}),
            instances: [],
        });
        stats.count++;
        if (!stats.instances.includes(answer.instance))
            stats.instances.push(answer.instance);
    }
    for (const stats of Object.values(versions))
        stats.share = stats.count / samples.length;
    const times = samples
        .filter((s) => s.ok)
        .map((s) => s.ms)
        .toSorted((a, b) => a - b);
    const failedCount = samples.filter((s) => !s.ok).length;
    return {
        total: samples.length,
        succeeded: samples.length - failedCount,
        failed: failedCount,
        versions,
        unrecognized,
        failures,
        ...(times.length
            ? {
                latencyMs: {
                    p50: percentile(times, 50),
                    p95: percentile(times, 95),
                    max: times.at(-1),
                },
            }
            : {}),
    };
}
const pct = (share) => `${Math.round(share * 100)}%`;
const describeVersions = (summary) => Object.entries(summary.versions)
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([v, s]) => `${v}${s.cluster ? ` (${s.cluster})` : ''} ${s.count} (${pct(s.share)})`)
    .join(', ') || 'none';
const describeFailures = (summary) => Object.entries(summary.failures)
    .map(([kind, count]) => `${kind} x${count}`)
    .join(', ');
const latency = (summary) => summary.latencyMs ? `, p50 ${summary.latencyMs.p50} ms, p95 ${summary.latencyMs.p95} ms` : '';
function details(summary, samples) {
    const examples = samples
        .filter((s) => !s.ok || !parseHelloBody(s.body))
        .slice(0, 5)
        .map((s) => ({
        status: s.status,
        ...(s.error ? { error: s.error } : {}),
        body: truncate(s.body.trim(), 120),
    }));
    return { ...summary, ...(examples.length ? { examples } : {}) };
}
/** Reasons shared by both directions, or undefined when the samples are clean. */
function commonProblem(summary) {
    if (summary.total === 0)
        return 'no samples: not a single request was made';
    if (summary.failed === summary.total) {
        return `all ${summary.total} requests failed (${describeFailures(summary)})`;
    }
    if (summary.failed > 0) {
        return `${summary.failed} of ${summary.total} requests failed (${describeFailures(summary)}); answers: ${describeVersions(summary)}`;
    }
    if (summary.unrecognized > 0) {
        return `unexpected answer: ${summary.unrecognized} of ${summary.total} responses are not a helloworld answer`;
    }
    return undefined;
}
const versionClusters = (clusters) => Object.fromEntries(clusters.map((c, i) => [`v${i + 1}`, c]));
/** Pass when every version answered (so every cluster was reached) and nothing failed. */
function analyzeEastWest(evidence) {
    const name = 'east-west traffic';
    const clusterOf = versionClusters(evidence.clusters);
    const summary = summarizeTraffic(evidence.samples, clusterOf);
    const info = details(summary, evidence.samples);
    const common = commonProblem(summary);
    if (common)
        return failed(name, evidence.cluster, common, info);
    const unexpected = Object.keys(summary.versions).filter((v) => !(v in clusterOf));
    if (unexpected.length) {
        return failed(name, evidence.cluster, `unexpected version ${unexpected.join(', ')} answered; expected ${Object.keys(clusterOf).join(', ')}`, info);
    }
    const missing = Object.keys(clusterOf).filter((v) => !summary.versions[v]);
    if (missing.length) {
        const answered = Object.keys(summary.versions).map((v) => `${v} (${clusterOf[v]})`);
        return failed(name, evidence.cluster, `only ${answered.join(', ')} answered; no answer from ${missing.map((v) => `${v} (${clusterOf[v]})`).join(', ')}`, info);
    }
    return passed(name, evidence.cluster, `${describeVersions(summary)}, 0 failed${latency(summary)}`, info);
}
/** Pass when every answer came from `expectedVersion` (v2, behind the second cluster's gateway) and nothing failed. */
function analyzeNorthSouth(evidence) {
    const name = 'north-south traffic';
    const expected = evidence.expectedVersion ?? 'v2';
    const clusterOf = versionClusters(evidence.clusters);
    const summary = summarizeTraffic(evidence.samples, clusterOf);
    const info = details(summary, evidence.samples);
    const common = commonProblem(summary);
    if (common)
        return failed(name, evidence.cluster, common, info);
    const others = Object.entries(summary.versions).filter(([v]) => v !== expected);
    if (others.length) {
        const where = (v) => (clusterOf[v] ? ` (${clusterOf[v]})` : '');
        const unknown = others.some(([v]) => !(v in clusterOf));
        const reason = summary.versions[expected] || unknown
            ? `unexpected version ${others.map(([v, s]) => `${v}${where(v)} answered ${s.count} of ${summary.total}`).join(', ')}; expected only ${expected}`
            : `only ${others.map(([v]) => `${v}${where(v)}`).join(', ')} answered; expected only ${expected}`;
        return failed(name, evidence.cluster, reason, info);
    }
    return passed(name, evidence.cluster, `${describeVersions(summary)}, 0 failed${latency(summary)}`, info);
}

// EXTERNAL MODULE: ./src/report/markdown.ts
var markdown = __webpack_require__(4285);
;// CONCATENATED MODULE: ./src/report/traffic-section.ts

function trafficSection(check) {
    const summary = check.details;
    if (!summary || typeof summary.total !== 'number')
        return undefined;
    const rows = Object.entries(summary.versions).map(([version, stats]) => [
        version,
        stats.cluster ?? '?',
        String(stats.count),
        `${Math.round(stats.share * 100)}%`,
    ]);
    if (summary.failed > 0)
        rows.push([
            'failed',
            '',
            String(summary.failed),
            `${Math.round((summary.failed / Math.max(1, summary.total)) * 100)}%`,
        ]);
    const latency = summary.latencyMs
        ? `latency p50 ${summary.latencyMs.p50} ms · p95 ${summary.latencyMs.p95} ms · max ${summary.latencyMs.max} ms`
        : 'no latency: no request answered';
    return {
        title: `${check.name} from ${check.cluster} ${(0,markdown/* verdict */.WJ)(check.ok)}`,
        markdown: `${(0,markdown/* markdownTable */.Qj)(['answer', 'cluster', 'requests', 'share'], rows)}\n\n${summary.total} requests · ${latency}`,
    };
}

;// CONCATENATED MODULE: ./src/phases/verify.ts
// Seed: the "Verification" sections. Gathers evidence from the clusters (API
// reads, exec into SPIRE servers and the sleep pod, istioctl proxy-config) and
// hands it to the pure analyzers in src/verify/, which decide.














const OWNED = `${config/* MANAGED_BY_LABEL */.lT}=${config/* MANAGED_BY_VALUE */.Q9}`;
const verify_WORKLOAD_KINDS = ['Deployment', 'DaemonSet', 'StatefulSet'];
/** Field manager for the temporary scale-down, so the examples phase can take `replicas` back. */
const VERIFY_MANAGER = 'mesh-federation-verify';
function spireCli(client, args) {
    return client.exec(names/* SPIRE_NAMESPACE */.ER, names/* SPIRE_SERVER */.s_.pod, names/* SPIRE_SERVER */.s_.container, [
        names/* SPIRE_SERVER */.s_.binary,
        ...args,
        '-socketPath',
        names/* SPIRE_SERVER */.s_.socket,
    ]);
}
async function spireOutput(client, args) {
    const result = await spireCli(client, args);
    if (result.exitCode !== 0)
        throw new Error(`spire-server ${args.slice(0, 2).join(' ')}: ${result.stderr.trim() || `exit ${result.exitCode}`}`);
    return result.stdout;
}
/** Workloads the action installed on this cluster, which must all exist and be Ready. */
function expectedWorkloads(ctx, client) {
    return ['spire', 'examples']
        .flatMap((phase) => (0,render/* renderPhase */.qq)(ctx.config, phase, client.cluster, ctx.facts).objects)
        .filter((o) => verify_WORKLOAD_KINDS.includes(o.kind))
        .map((o) => ({
        kind: o.kind,
        namespace: o.metadata.namespace ?? '',
        name: o.metadata.name,
    }));
}
async function readiness(ctx, client) {
    const [deployments, daemonSets, statefulSets] = await Promise.all(verify_WORKLOAD_KINDS.map((kind) => client.list('apps/v1', kind, { labelSelector: OWNED })));
    const namespaces = [
        ...new Set([...(deployments ?? []), ...(daemonSets ?? []), ...(statefulSets ?? [])].map((o) => o.metadata.namespace ?? '')),
    ];
    const pods = (await Promise.all(namespaces.map((namespace) => client.list('v1', 'Pod', { namespace })))).flat();
    const events = (await Promise.all(namespaces.map((namespace) => client.list('v1', 'Event', { namespace })))).flat();
    return analyzeReadiness({
        cluster: client.cluster.context,
        deployments: deployments,
        daemonSets: daemonSets,
        statefulSets: statefulSets,
        pods: pods,
        events: events,
        expected: expectedWorkloads(ctx, client),
    });
}
/** Pods that opted into the SPIRE sidecar template must each have an identity. */
async function meshWorkloads(client) {
    const namespaces = [
        names/* EXAMPLES */.kS.helloworld.namespace,
        names/* EXAMPLES */.kS.sleep.namespace,
        names/* EXAMPLES */.kS.bookinfo.namespace,
    ];
    const pods = (await Promise.all(namespaces.map((namespace) => client.list('v1', 'Pod', { namespace })))).flat();
    return pods
        .filter((p) => (p.metadata.annotations?.['inject.istio.io/templates'] ?? '').split(',').includes('spire'))
        .filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
        .map((p) => ({
        namespace: p.metadata.namespace ?? '',
        serviceAccount: p.spec?.serviceAccountName ?? 'default',
        pod: p.metadata.name,
        ...(p.metadata.uid ? { podUid: p.metadata.uid } : {}),
    }));
}
async function identities(ctx, client) {
    return analyzeIdentities({
        cluster: client.cluster.context,
        trustDomain: client.cluster.trustDomain,
        meshTrustDomains: ctx.config.clusters.map((c) => c.trustDomain),
        workloads: await meshWorkloads(client),
        entries: await spireOutput(client, ['entry', 'show']),
    });
}
async function federation(ctx) {
    const evidence = await Promise.all(ctx.clients.map(async (client) => ({
        cluster: client.cluster.context,
        trustDomain: client.cluster.trustDomain,
        bundleShow: await spireOutput(client, ['bundle', 'show', '-format', 'spiffe']),
        bundleList: await spireOutput(client, ['bundle', 'list', '-format', 'spiffe']),
    })));
    return analyzeFederation(evidence);
}
async function firstPod(client, namespace, labelSelector) {
    const pods = (await client.list('v1', 'Pod', {
        namespace,
        labelSelector,
    }));
    const running = pods.find((p) => p.status?.phase === 'Running') ?? pods[0];
    if (!running)
        throw new Error(`no pod matches ${labelSelector} in namespace ${namespace}`);
    return running;
}
async function rootCaPem(client) {
    const secret = await client.read({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: names/* ROOT_CA_SECRET */.T4, namespace: names/* CERT_MANAGER_NAMESPACE */.xJ },
    });
    const data = (secret?.data ?? {});
    const pem = data['ca.crt'] || data['tls.crt'];
    if (!pem)
        throw new Error(`secret ${names/* CERT_MANAGER_NAMESPACE */.xJ}/${names/* ROOT_CA_SECRET */.T4} holds no CA certificate`);
    return Buffer.from(pem, 'base64').toString('utf8');
}
/** sleep on the first cluster, productpage on the second, as the seed inspects them. */
async function chains(ctx) {
    const targets = [
        {
            client: ctx.clients[0],
            namespace: names/* EXAMPLES */.kS.sleep.namespace,
            selector: `app=${names/* EXAMPLES */.kS.sleep.app}`,
        },
        {
            client: ctx.clients[1],
            namespace: names/* EXAMPLES */.kS.bookinfo.namespace,
            selector: 'app=productpage',
        },
    ];
    const roots = {};
    await Promise.all(ctx.clients.map(async (c) => (roots[c.cluster.trustDomain] = await rootCaPem(c))));
    const istioctl = await ctx.istioctl();
    return Promise.all(targets.map(async ({ client, namespace, selector }) => {
        const pod = await firstPod(client, namespace, selector);
        const dump = await runIstioctl(istioctl, ctx.kubeconfigFile, [
            'proxy-config',
            'secret',
            `${pod.metadata.name}.${namespace}`,
            '-o',
            'json',
            `--context=${client.cluster.context}`,
        ]);
        return analyzeChain({
            cluster: client.cluster.context,
            workload: `${namespace}/${pod.metadata.name}`,
            proxySecret: dump,
            expected: {
                trustDomain: client.cluster.trustDomain,
                namespace,
                serviceAccount: pod.spec?.serviceAccountName ?? 'default',
            },
            certManagerCaPem: roots[client.cluster.trustDomain],
            meshTrustDomains: ctx.config.clusters.map((c) => c.trustDomain),
            now: new Date(),
            meshRootsPem: roots,
        });
    }));
}
async function sendRequests(ctx, url) {
    const client = ctx.clients[0];
    const pod = await firstPod(client, names/* EXAMPLES */.kS.sleep.namespace, `app=${names/* EXAMPLES */.kS.sleep.app}`);
    const result = await client.exec(names/* EXAMPLES */.kS.sleep.namespace, pod.metadata.name, names/* EXAMPLES */.kS.sleep.container, ['sh', '-c', trafficScript(url, ctx.config.requests)]);
    return parseTrafficOutput(result.stdout);
}
async function eastWest(ctx) {
    const { namespace, service, port, path } = names/* EXAMPLES */.kS.helloworld;
    const samples = await sendRequests(ctx, `http://${service}.${namespace}:${port}${path}`);
    return [
        analyzeEastWest({
            cluster: ctx.clients[0].cluster.context,
            clusters: ctx.config.clusters.map((c) => c.context),
            samples,
        }),
    ];
}
function gatewayAddress(service, nodes) {
    const ingress = service.status?.loadBalancer?.ingress?.[0];
    if (ingress?.ip || ingress?.hostname)
        return `http://${ingress.ip || ingress.hostname}`;
    const nodePort = service.spec?.ports?.find((p) => p.port === 80)?.nodePort;
    const addresses = nodes.flatMap((n) => n.status?.addresses ??
        []);
    const node = addresses.find((a) => a.type === 'ExternalIP') ??
        addresses.find((a) => a.type === 'InternalIP');
    return nodePort && node ? `http://${node.address}:${nodePort}` : undefined;
}
/** Seed: scale v1 to zero, route the ingress gateway of the last cluster to v2, curl it from cluster 1. */
async function northSouth(ctx) {
    const first = ctx.clients[0];
    const last = ctx.clients.at(-1);
    const v1 = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'helloworld-v1', namespace: names/* EXAMPLES */.kS.helloworld.namespace },
    };
    const before = await first.read(v1);
    const replicas = before?.spec?.replicas ?? 1;
    try {
        await first.applyOne({ ...v1, spec: { replicas: 0 } }, VERIFY_MANAGER);
        await first.waitFor(v1, (o) => (o.status?.replicas ?? 0) === 0, () => 'v1 pods are still there');
        await applyInOrder(last, (0,render/* renderIngress */._Y)(ctx.config, last.cluster));
        const service = await last.waitFor({
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: names/* INGRESS_GATEWAY_SERVICE */.TT, namespace: names/* ISTIO_NAMESPACE */.TE },
        }, (o) => gatewayAddress(o, []) !== undefined || ctx.config.serviceType === 'NodePort', () => 'the ingress gateway has no external address yet');
        const url = gatewayAddress(service, ctx.config.serviceType === 'NodePort' ? await last.list('v1', 'Node') : []);
        if (!url)
            return [
                failed('north-south', last.cluster.context, 'the ingress gateway has no reachable address'),
            ];
        ctx.setOutput('gateway-url', url);
        const samples = await sendRequests(ctx, `${url}${names/* EXAMPLES */.kS.helloworld.path}`);
        return [
            analyzeNorthSouth({
                cluster: first.cluster.context,
                clusters: ctx.config.clusters.map((c) => c.context),
                samples,
            }),
        ];
    }
    finally {
        await first.applyOne({ ...v1, spec: { replicas } }, VERIFY_MANAGER);
    }
}
function chainSection(report) {
    const rows = report.rows.map((r) => [
        r.role,
        r.trustDomain,
        r.subject,
        r.issuer,
        r.spiffeId ?? '',
        r.notAfter,
        r.keyType,
        r.sha256,
    ]);
    return {
        title: `Certificate chain of ${report.workload} (${report.cluster}) ${(0,markdown/* verdict */.WJ)(report.ok)}`,
        markdown: (0,markdown/* markdownTable */.Qj)(['role', 'trust domain', 'subject', 'issuer', 'SPIFFE ID', 'not after', 'key', 'SHA-256'], rows),
    };
}
/** A check that could not even gather its evidence fails with the reason. */
async function guarded(name, cluster, fn) {
    try {
        return await fn();
    }
    catch (error) {
        return [failed(name, cluster, `could not gather evidence: ${(0,errors/* describeError */.Uc)(error)}`)];
    }
}
async function runVerify(ctx) {
    const wanted = new Set(ctx.verifyChecks);
    const checks = [];
    const sections = [];
    const everyCluster = async (name, fn) => {
        if (!wanted.has(name))
            return;
        for (const result of await Promise.all(ctx.clients.map((c) => guarded(name, c.cluster.context, () => fn(c)))))
            checks.push(...result);
    };
    const mesh = ctx.config.clusters.map((c) => c.context).join('+');
    const once = async (name, fn) => {
        if (wanted.has(name))
            checks.push(...(await guarded(name, mesh, fn)));
    };
    await everyCluster('readiness', (c) => readiness(ctx, c));
    await everyCluster('identities', (c) => identities(ctx, c));
    await once('federation', () => federation(ctx));
    await once('chain', async () => {
        const reports = await chains(ctx);
        sections.push(...reports.map(chainSection));
        return reports.flatMap((r) => r.checks);
    });
    await once('east-west', () => eastWest(ctx));
    await once('north-south', () => northSouth(ctx));
    for (const check of checks) {
        const section = trafficSection(check);
        if (section)
            sections.push(section);
    }
    const outcomes = ctx.clients.map((c) => {
        const mine = checks.filter((x) => x.cluster === c.cluster.context);
        return {
            cluster: c.cluster.context,
            ok: mine.every((x) => x.ok),
            durationMs: 0,
            records: [],
            notes: [`${mine.filter((x) => x.ok).length}/${mine.length} checks passed`],
        };
    });
    return { outcomes, checks, sections };
}

;// CONCATENATED MODULE: ./src/phases/rotate.ts
// Seed: "Setting Up Automatic Certificate Rotation". Applies the `cacerts`
// Certificate with the rotation duration and renew-before, asks cert-manager
// to re-issue now (the status condition `cmctl renew` sets), waits for the new
// certificate, and checks that istiod picked it up.





const rotate_status = (o) => (o?.status ?? {});
const ready = (o) => (rotate_status(o).conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
async function servingSerial(client) {
    const secret = await client.read({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: names/* CACERTS */._4.name, namespace: names/* CACERTS */._4.namespace },
    });
    const pem = (secret?.data ?? {})['tls.crt'];
    return pem ? new external_node_crypto_.X509Certificate(Buffer.from(pem, 'base64')).serialNumber : undefined;
}
/**
 * istiod (with AUTO_RELOAD_PLUGIN_CERTS, or after a restart) logs the CA
 * certificate it loads; the new serial in its log since the renewal proves the
 * pickup. Istio prints serials in decimal or hex depending on version, so both
 * are looked for.
 */
async function istiodSawSerial(client, serialHex, sinceSeconds) {
    const pods = await client.list('v1', 'Pod', {
        namespace: names/* ISTIO_NAMESPACE */.TE,
        labelSelector: 'app=istiod',
    });
    const decimal = BigInt(`0x${serialHex}`).toString(10);
    for (const pod of pods) {
        const log = await client.podLog(names/* ISTIO_NAMESPACE */.TE, pod.metadata.name, 'discovery', sinceSeconds);
        const lower = log.toLowerCase();
        if (lower.includes(serialHex.toLowerCase()) || lower.includes(decimal))
            return true;
    }
    return false;
}
async function runRotate(ctx) {
    const checks = [];
    const outcomes = await onEachCluster('rotate', ctx.clients, async (client, log) => {
        const { duration, renewBefore } = ctx.config.rotation;
        const certificate = (0,render/* renderCacertsCertificate */.H)(ctx.config, client.cluster, duration, renewBefore);
        const oldSerial = await servingSerial(client);
        const startedAt = Date.now();
        const record = await client.applyOne(certificate);
        const revision = rotate_status(await client.read(certificate)).revision ?? 0;
        await client.patchStatus(certificate, {
            conditions: [
                {
                    type: 'Issuing',
                    status: 'True',
                    reason: 'ManuallyTriggered',
                    message: 'Certificate re-issuance requested by mesh-federation rotate',
                    lastTransitionTime: new Date().toISOString(),
                },
            ],
        });
        await client.waitFor(certificate, (o) => (rotate_status(o).revision ?? 0) > revision && ready(o), (o) => rotate_status(o).conditions?.find((c) => c.type === 'Ready')?.message ?? 'not re-issued yet');
        const newSerial = await servingSerial(client);
        log(`cacerts re-issued (duration ${duration}, renew before ${renewBefore}): serial ${oldSerial ?? 'none'} -> ${newSerial}`);
        const cluster = client.cluster.context;
        if (!newSerial || newSerial === oldSerial)
            checks.push(failed('rotation', cluster, 'the cacerts secret still holds the old certificate'));
        else
            checks.push(passed('rotation', cluster, `cacerts re-issued with serial ${newSerial}`));
        const sinceSeconds = Math.ceil((Date.now() - startedAt) / 1000) + 60;
        const picked = newSerial
            ? await istiodSawSerial(client, newSerial, sinceSeconds).catch(() => false)
            : false;
        checks.push(picked
            ? passed('istiod-pickup', cluster, `istiod logged the new CA certificate ${newSerial}`)
            : failed('istiod-pickup', cluster, `istiod did not log the new CA certificate ${newSerial ?? ''} (is AUTO_RELOAD_PLUGIN_CERTS enabled?)`));
        return { records: [record], notes: [`serial ${newSerial}`] };
    });
    return { outcomes, checks };
}

;// CONCATENATED MODULE: ./src/phases/cleanup.ts




/** Kinds the action creates; namespaced kinds first, then cluster-scoped, namespaces last. */
const CLEANUP_KINDS = [
    ['networking.istio.io/v1beta1', 'Gateway'],
    ['networking.istio.io/v1beta1', 'VirtualService'],
    ['networking.istio.io/v1beta1', 'DestinationRule'],
    ['security.istio.io/v1beta1', 'PeerAuthentication'],
    ['cert-manager.io/v1', 'Certificate'],
    ['cert-manager.io/v1', 'Issuer'],
    ['cert-manager.io/v1', 'ClusterIssuer'],
    ['apps/v1', 'Deployment'],
    ['apps/v1', 'StatefulSet'],
    ['apps/v1', 'DaemonSet'],
    ['batch/v1', 'Job'],
    ['v1', 'Service'],
    ['v1', 'ConfigMap'],
    ['v1', 'Secret'],
    ['v1', 'ServiceAccount'],
    ['rbac.authorization.k8s.io/v1', 'Role'],
    ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
    ['policy/v1', 'PodDisruptionBudget'],
    ['autoscaling/v2', 'HorizontalPodAutoscaler'],
    ['admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration'],
    ['admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration'],
    ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'],
    ['rbac.authorization.k8s.io/v1', 'ClusterRole'],
    ['storage.k8s.io/v1', 'CSIDriver'],
    ['apiextensions.k8s.io/v1', 'CustomResourceDefinition'],
    ['v1', 'Namespace'],
];
// 'verify' owns the north-south Gateway and VirtualService.
const PHASE_ORDER = ['verify', 'examples', 'istio', 'spire', 'cert-manager'];
async function deletePhase(client, phase) {
    const selector = `${config/* MANAGED_BY_LABEL */.lT}=${config/* MANAGED_BY_VALUE */.Q9},${config/* PHASE_LABEL */.jf}=${phase}`;
    const records = [];
    for (const [apiVersion, kind] of CLEANUP_KINDS) {
        const found = await client.list(apiVersion, kind, { labelSelector: selector });
        const deleted = await mapLimit(found, 6, async (o) => {
            const header = {
                apiVersion,
                kind,
                metadata: { name: o.metadata.name, namespace: o.metadata.namespace },
            };
            return { ref: objectRef(header), result: await client.delete(header) };
        });
        for (const d of deleted)
            if (d.result === 'deleted')
                records.push({ ref: d.ref, action: 'deleted' });
    }
    // Namespaces go last: wait until they are really gone so the next phase's
    // deletions (the CSI driver, the CA) never pull the floor from under a pod.
    await Promise.all(records
        .filter((r) => r.ref.startsWith('Namespace/'))
        .map((r) => client.waitForGone({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: r.ref.slice('Namespace/'.length) },
    })));
    return records;
}
async function runCleanup(ctx) {
    return onEachCluster('cleanup', ctx.clients, async (client, log) => {
        const records = [];
        for (const phase of PHASE_ORDER) {
            const deleted = await deletePhase(client, phase);
            log(`${phase}: deleted ${deleted.length} objects`);
            records.push(...deleted);
        }
        return { records, notes: [`deleted ${records.length} objects`] };
    });
}

;// CONCATENATED MODULE: ./src/run-cluster-phases.ts
// Everything that needs the clusters: kubeconfig to clients, a reachability
// check on every cluster before the first change, then the phases in order.













const RUNNERS = {
    'cert-manager': runCertManager,
    spire: runSpire,
    istio: runIstio,
    examples: runExamples,
    verify: runVerify,
    rotate: runRotate,
    cleanup: runCleanup,
};
function once(fn) {
    let promise;
    return () => (promise ??= fn());
}
async function runClusterPhases(request) {
    const { config } = request;
    const resolved = (0,kubeconfig/* resolveKubeconfigs */.Tr)(core/* getInput */.V4, config.clusters, request.contextsGiven);
    for (const secret of resolved.secrets)
        core/* setSecret */.Pq(secret);
    const runDir = (0,kubeconfig/* makeRunDir */.rc)();
    (0,post_state/* rememberForCleanup */.v)(runDir);
    try {
        const kubeconfigFile = (0,kubeconfig/* writePrivateFile */.Pl)(runDir, 'kubeconfig', resolved.yaml);
        const clients = resolved.endpoints.map((e) => new ClusterClient(e.cluster, e.server, resolved.yaml, config.timeoutMs));
        await Promise.all(clients.map(async (client) => core/* info */.pq(`cluster '${client.cluster.context}': Kubernetes ${await client.checkReachable()} at ${client.server}`)));
        const ctx = {
            config,
            verifyChecks: request.verifyChecks,
            clients,
            kubeconfigFile,
            runDir,
            istioctl: once(() => installIstioctl(config.versions.istio, config.istioctlBaseUrl)),
            facts: {},
            mask: (secret) => core/* setSecret */.Pq(secret),
            writeManifest: request.writeManifest,
            setOutput: (name, value) => core/* setOutput */.uH(name, value),
        };
        const results = [];
        for (const phase of request.phases) {
            if (results.some((r) => !r.ok)) {
                results.push({
                    phase,
                    ok: false,
                    durationMs: 0,
                    clusters: [],
                    checks: [],
                    sections: [],
                    error: 'skipped: an earlier phase failed',
                });
                continue;
            }
            const started = Date.now();
            try {
                const out = await RUNNERS[phase](ctx);
                const { outcomes, checks, sections } = Array.isArray(out)
                    ? { outcomes: out, checks: [], sections: [] }
                    : { sections: [], ...out };
                results.push({
                    phase,
                    ok: outcomes.every((o) => o.ok) && checks.every((c) => c.ok),
                    durationMs: Date.now() - started,
                    clusters: outcomes,
                    checks,
                    sections,
                });
            }
            catch (error) {
                results.push({
                    phase,
                    ok: false,
                    durationMs: Date.now() - started,
                    clusters: [],
                    checks: [],
                    sections: [],
                    error: (0,errors/* describeError */.Uc)(error),
                });
            }
        }
        return results;
    }
    finally {
        // The kubeconfig is needed by no later step; the post step is only the backstop.
        core/* debug */.Yz(`removing ${runDir}`);
        (await Promise.resolve(/* import() */).then(__webpack_require__.t.bind(__webpack_require__, 3024, 23))).rmSync(runDir, { recursive: true, force: true });
    }
}


/***/ })

};
