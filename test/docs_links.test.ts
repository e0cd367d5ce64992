// Every relative link in README.md and docs/*.md points to a file that exists, and every #anchor to a
// heading of that file (GitHub's heading slugs).
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from './helpers'

const pages = ['README.md', ...fs.readdirSync(path.join(repoRoot, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)]

/** The page's text without fenced code blocks (where a # line is no heading). */
function withoutFences(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```$/gm, '')
}

/** The page's text without code, where a [x](y) is not a link. */
function prose(markdown: string): string {
  return withoutFences(markdown).replace(/`[^`\n]*`/g, '')
}

/** GitHub's anchors for the headings of a page: lower case, punctuation dropped, spaces → '-', repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const result = new Set<string>()
  for (const [, heading] of withoutFences(markdown).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const slug = heading!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-')
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    result.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return result
}

/** The targets of the page's relative links and images. */
function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?: "[^"]*")?\)/g)]
    .map((match) => match[1]!)
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
}

describe('links in README.md and docs/', () => {
  it('finds the pages and their links', () => {
    expect(pages).toContain('docs/design.md')
    expect(relativeLinks(fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8')).length).toBeGreaterThan(5)
  })

  it.each(pages)('%s: every relative link resolves to an existing file and heading', (page) => {
    const broken: string[] = []
    for (const target of relativeLinks(fs.readFileSync(path.join(repoRoot, page), 'utf8'))) {
      const [file, anchor] = target.split('#') as [string, string | undefined]
      const resolved = file === '' ? path.join(repoRoot, page) : path.resolve(path.dirname(path.join(repoRoot, page)), decodeURIComponent(file))
      if (!fs.existsSync(resolved)) {
        broken.push(`${target} (no such file)`)
      } else if (anchor !== undefined && resolved.endsWith('.md') && !anchors(fs.readFileSync(resolved, 'utf8')).has(anchor)) {
        broken.push(`${target} (no such heading)`)
      }
    }
    expect(broken).toEqual([])
  })
})
