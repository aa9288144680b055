/**
 * Runs bdt's test suite through its API (like `bdt test`), then prints the totals and
 * each failure with its reason, and writes them as JSON.
 * Usage: node bench/bdt-run.js BDT_DIR CONFIG_JS RESULT_JSON [API_VERSION]
 */
const path = require("path")
const fs = require("fs")

const [bdtDir, configPath, resultPath, apiVersion = "2.0"] = process.argv.slice(2)
const BDT = require(path.resolve(bdtDir, "build/lib/bdt")).default

function collect(node, trail, out) {
    if (node.children) {
        const here = node.name && node.name !== "__ROOT__" ? [...trail, node.name] : trail
        for (const child of node.children) collect(child, here, out)
        return out
    }
    // bdt logs a test's error (and skip or not-supported reason) to the test's console.
    const entries = (node.console && node.console.entries) || []
    const first = type => {
        const entry = entries.find(e => e.type === type)
        if (!entry) return ""
        // assertion errors are "Error: " then one "✖ ..." line per failed expectation
        return String(entry.data[0]).replace(/^Error: /, "").split("\n")
            .map(line => line.trim().replace(/^✖ /, "")).filter(Boolean).join(" | ")
    }
    const reason = first("error") || (node.status === "succeeded" ? "" : first("info"))
    out.push({
        path: node.path, suite: trail.join(" › "), name: node.name,
        status: node.status || "not-run", reason, warning: first("warn")
    })
    return out
}

async function main() {
    const options = await BDT.loadConfigFile(configPath)
    const root = await BDT.test({
        config: { ...options, apiVersion, bail: false, match: "" },
        reporter: "console",
        reporterOptions: { colors: false, wrap: 160, verbose: "auto" }
    })
    const tests = collect(root, [], [])
    const totals = {}
    for (const t of tests) totals[t.status] = (totals[t.status] || 0) + 1
    const failures = tests.filter(t => t.status === "failed")
    fs.writeFileSync(resultPath, JSON.stringify({ apiVersion, totals, tests }, null, 2))

    console.log("\n==== bdt summary (Bulk Data v" + apiVersion + ") ====")
    console.log(Object.entries(totals).map(([k, v]) => `${k}: ${v}`).join(", ") + `, total: ${tests.length}`)
    const short = text => text.length > 300 ? text.slice(0, 297) + "..." : text
    for (const t of failures) console.log(`FAIL [${t.path}] ${t.suite} › ${t.name}: ${short(t.reason)}`)
    for (const t of tests.filter(t => !["succeeded", "failed"].includes(t.status))) {
        console.log(`${t.status.toUpperCase()} [${t.path}] ${t.suite} › ${t.name}${t.reason ? ": " + t.reason : ""}`)
    }
    for (const t of tests.filter(t => t.warning)) console.log(`WARN [${t.path}] ${t.name}: ${t.warning}`)
    console.log(`results: ${resultPath}`)
    process.exitCode = failures.length ? 1 : 0
}

main().catch(error => {
    console.error(error)
    process.exitCode = 2
})
