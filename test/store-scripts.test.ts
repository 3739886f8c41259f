import { describe, expect, it } from 'vitest';
import { scriptSources } from '../store/scripts/registry.ts';

describe('the script registry', () => {
  it('expands each include once and leaves no include line or placeholder in any script', () => {
    for (const [name, lua] of scriptSources()) {
      expect(lua, name).not.toMatch(/@include|\{\{\w+\}\}/);
      for (const fn of lua.matchAll(/^local function (\w+)/gm))
        expect(lua.split(`local function ${fn[1]}(`).length, `${name}: ${fn[1]}`).toBe(2);
    }
  });

  it('spells BullMQ priority scores in one fragment', () => {
    const spelled = [...scriptSources()].filter(([, lua]) => lua.includes('4294967296'));
    expect(spelled.map(([name]) => name).sort()).toEqual(['jobCreate', 'tenantAdmit', 'tenantAdmitCap', 'tenantFairTag']);
    for (const [, lua] of spelled) expect(lua.split('4294967296').length).toBe(2);
  });
});
