// Checks the Sentinel KQL offline with Microsoft's own parser and analyser (Kusto.Language, npm
// @kusto/language-service-next, run under node with no network):
//
// - the analytics rule's query (infra/modules/sentinel/matches-rule.kql) against the table
//   DefenderMispMatches_CL built from infra/modules/sentinel/matches-table.json: no diagnostics, and
//   its result columns include every column the rule's entity mappings, alert details and custom
//   details name (read from infra/modules/sentinel-rule.bicep);
// - the data collection rule's transformKql (matches-transform.kql) against the virtual table
//   `source` with the stream's columns: no diagnostics, and its result columns are exactly the
//   table's, with the same types;
// - the rule's mappings against the limits and identifiers Microsoft's own rule validator uses
//   (Azure/Azure-Sentinel .script/tests/detectionTemplateSchemaValidation).
//
// Then it proves it can fail: a scratch copy of the query with a planted unknown column must give a
// diagnostic, and a mapping to a column the query does not project must be reported.
//
// Usage: node scripts/check-kql.js PACKAGE_DIR   (scripts/check-kql installs the package)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const pkg = process.argv[2];
require(path.join(pkg, 'bridge.min.js'));
require(path.join(pkg, 'Kusto.Language.Bridge.min.js'));
const K = globalThis.Kusto.Language;

const read = (p) => fs.readFileSync(path.join(root, p), 'utf8');
const columns = JSON.parse(read('infra/modules/sentinel/matches-table.json'));
const ruleBicep = read('infra/modules/sentinel-rule.bicep');
// Stream types as Kusto names them.
const kustoType = { string: 'string', int: 'int', long: 'long', real: 'real', boolean: 'bool', datetime: 'datetime', dynamic: 'dynamic' };

function list(netList) {
  const out = [];
  for (let i = 0; i < netList.Count; i++) out.push(netList.getItem(i));
  return out;
}

/** Diagnostics and result columns of `query` over one table `name` with `columns`. */
function analyse(query, name) {
  const schema = '(' + columns.map((c) => `['${c.name}']:${c.type}`).join(', ') + ')';
  const table = new K.Symbols.TableSymbol.$ctor7(name, schema, '');
  const db = new K.Symbols.DatabaseSymbol.ctor('workspace', [table]);
  const globals = K.GlobalState.Default.WithDatabase(db);
  const code = K.KustoCode.ParseAndAnalyze(query, globals);
  const diagnostics = list(code.GetDiagnostics()).map((d) => `${d.Severity} at ${d.Start}: ${d.Message}`);
  const result = code.ResultType ? list(code.ResultType.Columns).map((c) => ({ name: c.Name, type: c.Type.Name })) : [];
  return { diagnostics, result };
}

/** The part of the Bicep text between `key: {` and its closing brace. */
function block(text, key) {
  const start = text.indexOf(`${key}: {`);
  if (start < 0) return '';
  let depth = 0;
  for (let i = text.indexOf('{', start); i < text.length; i++) {
    if (text[i] === '{') depth++;
    if (text[i] === '}' && --depth === 0) return text.slice(start, i + 1);
  }
  return '';
}

/** What the rule's Bicep names: columns, custom details, entities, grouping. */
function ruleMappings(bicep) {
  const custom = {};
  for (const m of block(bicep, 'customDetails').matchAll(/^\s*(\w+): '(\w+)'$/gm)) custom[m[1]] = m[2];
  const entities = [];
  const mappings = bicep.slice(bicep.indexOf('entityMappings: ['), bicep.indexOf('incidentConfiguration:'));
  for (const e of mappings.split(/entityType: /).slice(1)) {
    const type = e.match(/^'(\w+)'/)[1];
    const fields = [...e.matchAll(/identifier: '(\w+)'\s+columnName: '(\w+)'/g)].map((m) => ({ identifier: m[1], column: m[2] }));
    entities.push({ type, fields });
  }
  const override = block(bicep, 'alertDetailsOverride');
  const formats = [...override.matchAll(/alert(?:DisplayName|Description)Format: '([^']*)'/g)].map((m) => m[1]);
  const placeholders = formats.map((f) => [...f.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]));
  const severity = [...override.matchAll(/alert(?:Severity|Tactics)ColumnName: '(\w+)'/g)].map((m) => m[1]);
  const grouping = block(bicep, 'groupingConfiguration');
  const groupList = (key) => {
    const m = grouping.match(new RegExp(`${key}: \\[([^\\]]*)\\]`));
    return m ? [...m[1].matchAll(/'(\w+)'/g)].map((x) => x[1]) : [];
  };
  const columnsNamed = new Set([
    ...Object.values(custom),
    ...entities.flatMap((e) => e.fields.map((f) => f.column)),
    ...placeholders.flat(),
    ...severity,
  ]);
  return {
    custom, entities, formats, placeholders, columnsNamed,
    groupByEntities: groupList('groupByEntities'), groupByCustomDetails: groupList('groupByCustomDetails'),
  };
}

// Identifiers Microsoft's rule validator accepts (EntityMappingIdentifiers.cs), for the types used.
const identifiers = {
  Host: ['DnsDomain', 'NTDomain', 'HostName', 'FullName', 'NetBiosName', 'AzureID', 'OMSAgentID', 'OSFamily', 'OSVersion', 'IsDomainJoined'],
  FileHash: ['Algorithm', 'Value'],
  File: ['Directory', 'Name'],
  IP: ['Address', 'AddressScope'],
  URL: ['Url'],
};

/** Every problem of the rule (query text and Bicep text); empty when it is right. */
function checkRule(query, bicep) {
  const problems = [];
  const { diagnostics, result } = analyse(query, 'DefenderMispMatches_CL');
  problems.push(...diagnostics.map((d) => `rule query: ${d}`));
  const produced = new Set(result.map((c) => c.name));
  const m = ruleMappings(bicep);
  if (m.columnsNamed.size < 10) problems.push(`rule mappings: only ${m.columnsNamed.size} columns found in the Bicep; the reader is broken`);
  for (const c of m.columnsNamed) if (!produced.has(c)) problems.push(`rule mappings name ${c}, which the query does not return`);
  const keys = Object.keys(m.custom);
  if (keys.length > 20) problems.push('more than 20 custom details');
  for (const k of keys) if (!/^[a-zA-Z]+\w*$/.test(k) || k.length > 20) problems.push(`custom detail key ${k} is not 1-20 word characters starting with a letter`);
  if (m.entities.length > 5) problems.push('more than 5 entity mappings');
  for (const e of m.entities) {
    if (!identifiers[e.type]) problems.push(`entity type ${e.type} not checked here`);
    if (e.fields.length < 1 || e.fields.length > 3) problems.push(`${e.type}: 1 to 3 identifiers`);
    for (const f of e.fields) if (!(identifiers[e.type] || []).includes(f.identifier)) problems.push(`${e.type} has no identifier ${f.identifier}`);
  }
  for (const p of m.placeholders) if (p.length > 3) problems.push('more than 3 placeholders in an alert format');
  for (const g of m.groupByEntities) if (!m.entities.some((e) => e.type === g)) problems.push(`incidents group by ${g}, which is not mapped`);
  for (const g of m.groupByCustomDetails) if (!keys.includes(g)) problems.push(`incidents group by custom detail ${g}, which is not defined`);
  return { problems, result, mappings: m };
}

/** Every problem of the transform; its output must be the table exactly. */
function checkTransform(query) {
  const problems = [];
  const { diagnostics, result } = analyse(query, 'source');
  problems.push(...diagnostics.map((d) => `transform: ${d}`));
  const want = columns.map((c) => `${c.name}:${kustoType[c.type]}`).join(', ');
  const got = result.map((c) => `${c.name}:${c.type}`).join(', ');
  if (want !== got) problems.push(`transform output is not the table's columns:\n  want ${want}\n  got  ${got}`);
  return { problems, result };
}

const ruleQuery = read('infra/modules/sentinel/matches-rule.kql');
const transform = read('infra/modules/sentinel/matches-transform.kql');
const rule = checkRule(ruleQuery, ruleBicep);
const trans = checkTransform(transform);

console.log(`Kusto.Language ${require(path.join(pkg, 'package.json')).version}: rule query, ${rule.problems.length} problem(s)`);
console.log(`  result columns: ${rule.result.map((c) => `${c.name}:${c.type}`).join(', ')}`);
console.log(`  columns the rule names: ${[...rule.mappings.columnsNamed].sort().join(', ')}`);
console.log(`  entity mappings: ${rule.mappings.entities.map((e) => `${e.type}(${e.fields.map((f) => `${f.identifier}=${f.column}`).join(', ')})`).join('; ')}`);
console.log(`transformKql ${JSON.stringify(transform.trim())}: ${trans.problems.length} problem(s); output = the ${columns.length} table columns`);

// The check must be able to fail: a scratch copy with a planted unknown column, and a mapping to
// a column the query does not return.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'check-kql-'));
const planted = path.join(scratch, 'matches-rule.kql');
fs.writeFileSync(planted, ruleQuery.replace('| project ', '| extend Planted = NoSuchColumn\n| project '));
const broken = checkRule(fs.readFileSync(planted, 'utf8'), ruleBicep);
const unmapped = checkRule(ruleQuery, ruleBicep.replace("columnName: 'FileDirectory'", "columnName: 'FileFolder'"));
const brokenTransform = checkTransform('source | project-away Hash');
fs.rmSync(scratch, { recursive: true });
const selfTest = [
  ['a planted unknown column in a scratch copy of the query', broken.problems.some((p) => p.includes("'NoSuchColumn'"))],
  ['a mapping to a column the query does not return', unmapped.problems.some((p) => p.includes('FileFolder'))],
  ['a transform that drops a column', brokenTransform.problems.length > 0],
];
for (const [what, caught] of selfTest) console.log(`self-test: ${what}: ${caught ? 'reported' : 'NOT REPORTED'}`);

const all = [...rule.problems, ...trans.problems, ...selfTest.filter(([, c]) => !c).map(([w]) => `the check missed ${w}`)];
for (const p of all) console.error(`check-kql: ${p}`);
process.exit(all.length ? 1 : 0);
